#!/bin/sh
# Install what nc needs on Debian or Ubuntu: build tools and libraries
# (as root; otherwise print the apt-get line to run), then the Python test
# oracles (regex, tiktoken, rustbpe) into .venv for `make test`.
set -e
cd "$(dirname "$0")/.."

PKGS="build-essential pkg-config libarchive-dev libxxhash-dev libjansson-dev libopenblas-dev
      libsnappy-dev libzstd-dev zlib1g-dev libyaml-dev
      bats bats-support bats-assert python3 python3-venv zstd xz-utils clang libclang-rt-14-dev
      openmpi-bin libopenmpi-dev jq groff-base libedit-dev"
# Versions the tests were written against; regex also made lib/unicode_tables.c.
PY_PKGS="regex==2026.11.15 tiktoken==0.14.0 rustbpe==0.1.0 pyarrow==26.0.1 safetensors==0.8.0 numpy==2.4.6"

if [ "$(id -u)" = 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $PKGS
else
	echo "setup: not root; install the packages with:" >&2
	echo "  sudo apt-get install -y $(echo $PKGS)" >&2
fi

if [ ! -x .venv/bin/python ]; then
	python3 -m venv .venv
fi
# shellcheck disable=SC2086
.venv/bin/python -m pip install -q --disable-pip-version-check $PY_PKGS
echo "setup: done (test oracles in .venv)"
