#!/bin/sh
# For a machine without network (a GPU node that cannot reach a package
# mirror): download, here, the Debian packages that nc's build and tests
# need beyond a compiler and CUDA, into DIR (default out/debs). Copy DIR
# there and run `NC_DEBS=DIR sh/gpu-check.sh`, which unpacks them into a
# private prefix (never over /) and builds against it.
#
# The libraries come with the ones they load (libarchive's compression and
# XML libraries), so that the set works on a system that lacks them; nc's
# programs find them through their run path, other programs never see them.
set -eu
dir=${1:-out/debs}
mkdir -p "$dir"
cd "$dir"
apt-get download \
	bats \
	libarchive-dev libarchive13 libacl1 libbz2-1.0 liblz4-1 liblzma5 libnettle8 libxml2 libicu72 \
	libjansson-dev libjansson4 \
	libxxhash-dev libxxhash0 \
	libsnappy-dev libsnappy1v5 \
	libzstd-dev libzstd1 \
	zlib1g-dev zlib1g
ls -1 *.deb | wc -l | xargs printf 'offline-debs: %s packages in %s\n' "" "$dir" >&2
