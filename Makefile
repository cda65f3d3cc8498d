# nc: nanochat as a suite of small C tools. `make`, `make test`, `make install`.

PREFIX  ?= /usr/local
CC      ?= cc
CFLAGS  ?= -O2 -g
# -fno-trapping-math: nc never reads floating-point exception flags, and
# without it GCC will not turn a float comparison into a vector select
# (lib/fastmath.h's loops would stay scalar). Values are unchanged.
CFLAGS  += $(if $(HAVE_BLAS),-DNC_BLAS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp \
	   -fno-trapping-math -MMD -MP
LDLIBS  := -larchive -lxxhash -ljansson -lsnappy -lzstd -lz -lm
LDFLAGS += -fopenmp

# Optional parts, found by trying them (never by asking the package manager).
try_link = $(shell printf 'int main(void){return 0;}' | $(CC) -x c - $(1) -o /dev/null 2>/dev/null && echo yes)
NVCC    ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
CUDA    ?= $(if $(NVCC),1,0)
HAVE_BLAS := $(call try_link,-lopenblas)
# MPI (Open MPI's mpicc --showme): only lib/comm.c and nc-train use it.
MPI_CF    := $(shell mpicc --showme:compile 2>/dev/null)
MPI_LD    := $(shell mpicc --showme:link 2>/dev/null)
HAVE_MPI  := $(if $(MPI_LD),$(call try_link,$(MPI_CF) $(MPI_LD)))
MPI_CFLAGS := $(if $(HAVE_MPI),-DNC_MPI $(MPI_CF))
MPI_LIBS  := $(if $(HAVE_MPI),$(MPI_LD))
# Only what runs the model links BLAS (its thread pool starts at load).
BLAS_LIBS := $(if $(HAVE_BLAS),-lopenblas)

# CUDA: the kernels are compiled in every build that has nvcc (so that
# they stay warning-free), into build/libnc_cuda.a; `make test-gpu` runs
# their checks against the CPU ops on a machine with a GPU.
CUDA_HOME ?= $(patsubst %/bin/,%,$(dir $(NVCC)))
NVFLAGS   ?= -O2 -std=c++17 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
NVFLAGS   += --default-stream per-thread -Xcompiler -Wall,-Wextra,-Wno-unused-parameter -Werror all-warnings
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart
# NCCL (training on several GPUs), found by linking a call to it; without
# it nc-train still trains on one GPU and says what is missing on several.
HAVE_NCCL := $(if $(filter 1,$(CUDA)),$(shell printf '\043include <nccl.h>\nint main(void){int v;return ncclGetVersion(&v);}' \
  | $(CC) -x c - -I$(CUDA_HOME)/include -L$(CUDA_HOME)/lib64 -lnccl -o /dev/null 2>/dev/null && echo yes))
NVFLAGS   += $(if $(HAVE_NCCL),,-DNC_NO_NCCL)
NCCL_LIBS := $(if $(HAVE_NCCL),-lnccl)
CU_SRC    := $(wildcard kernels/*.cu)
CU_OBJ    := $(CU_SRC:%.cu=build/%.o)
CUDA_LIB  := $(if $(filter 1,$(CUDA)),build/libnc_cuda.a)

LIB_SRC := $(wildcard lib/*.c lib/*/*.c)
LIB_OBJ := $(LIB_SRC:%.c=build/%.o)
TOOLS   := $(patsubst cmd/%.c,build/%,$(wildcard cmd/nc-*.c))
UNIT    := $(patsubst tests/unit/%.c,build/tests/%,$(wildcard tests/unit/test_*.c))

all: build/libnc.a $(CUDA_LIB) $(TOOLS) build/.config

build/.config: FORCE
	@mkdir -p build
	@printf 'nc build: cc=%s cuda=%s blas=%s mpi=%s nccl=%s libedit=%s\n' "$(CC)" \
	  "$(if $(filter 1,$(CUDA)),yes ($(NVCC)),no)" "$(or $(HAVE_BLAS),no)" "$(or $(HAVE_MPI),no)" \
	  "$(or $(HAVE_NCCL),no)" "$(or $(HAVE_EDIT),no)" \
	  | tee $@.new | cmp -s - $@ || { cat $@.new; mv $@.new $@; }; rm -f $@.new

build/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# Rebuilt when MPI comes or goes (build/.config changes then).
build/lib/comm.o: lib/comm.c build/.config
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -c $< -o $@

build/libnc.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/kernels/%.o: kernels/%.cu kernels/ops_cuda.h kernels/cuda_common.h lib/ops.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@

# Rebuilt when NCCL comes or goes.
build/kernels/comm_nccl.o: build/.config

build/libnc_cuda.a: $(CU_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/tests/gpu_%: tests/gpu/%.c build/libnc_cuda.a build/libnc.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< build/libnc_cuda.a build/libnc.a $(LDLIBS) $(BLAS_LIBS) $(CUDA_LIBS) -lstdc++ -o $@

build/nc-%: build/cmd/nc-%.o build/libnc.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The tools that run the model link BLAS; nc-train also MPI (lib/comm.c).
# nc-sample and nc-train run on CUDA too when built with it (--device).
CUDA_CFLAGS := $(if $(filter 1,$(CUDA)),-DNC_CUDA)
CUDA_LINK   := $(if $(filter 1,$(CUDA)),$(CUDA_LIB) $(CUDA_LIBS) -lstdc++)

build/cmd/nc-sample.o build/cmd/nc-train.o build/cmd/nc-eval.o: build/cmd/%.o: cmd/%.c build/.config
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CUDA_CFLAGS) -c $< -o $@

# nc-chat edits lines with libedit where there is one (pkg-config).
EDIT_CF   := $(shell pkg-config --cflags libedit 2>/dev/null)
EDIT_LD   := $(shell pkg-config --libs libedit 2>/dev/null)
HAVE_EDIT := $(if $(EDIT_LD),$(call try_link,$(EDIT_LD)))

build/cmd/nc-chat.o: cmd/nc-chat.c build/.config
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CUDA_CFLAGS) $(if $(HAVE_EDIT),-DNC_EDIT $(EDIT_CF)) -c $< -o $@

build/nc-chat: build/cmd/nc-chat.o build/libnc.a $(CUDA_LIB)
	$(CC) $(LDFLAGS) build/cmd/nc-chat.o build/libnc.a $(LDLIBS) $(BLAS_LIBS) $(CUDA_LINK) \
	  $(if $(HAVE_EDIT),$(EDIT_LD)) -o $@

build/nc-sample: build/cmd/nc-sample.o build/libnc.a $(CUDA_LIB)
	$(CC) $(LDFLAGS) build/cmd/nc-sample.o build/libnc.a $(LDLIBS) $(BLAS_LIBS) $(CUDA_LINK) -o $@

build/nc-train: build/cmd/nc-train.o build/libnc.a $(CUDA_LIB) build/.config
	$(CC) $(LDFLAGS) build/cmd/nc-train.o build/libnc.a $(LDLIBS) $(BLAS_LIBS) $(MPI_LIBS) $(CUDA_LINK) \
	  $(if $(filter 1,$(CUDA)),$(NCCL_LIBS)) -o $@

# nc-eval also reads the eval bundle's core.yaml (libyaml) and runs
# under mpirun as nc-train does.
build/nc-eval: build/cmd/nc-eval.o build/libnc.a $(CUDA_LIB) build/.config
	$(CC) $(LDFLAGS) build/cmd/nc-eval.o build/libnc.a $(LDLIBS) -lyaml $(BLAS_LIBS) $(MPI_LIBS) \
	  $(CUDA_LINK) $(if $(filter 1,$(CUDA)),$(NCCL_LIBS)) -o $@

build/tests/%: build/tests/unit/%.o build/libnc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(BLAS_LIBS) -o $@

# Run under mpirun by tests/nc-train.bats, or calling nc_train: they link
# MPI, as nc-train does.
build/tests/test_optim_dist build/tests/test_chat_ref: build/tests/%: build/tests/unit/%.o build/libnc.a build/.config
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< build/libnc.a $(LDLIBS) $(BLAS_LIBS) $(MPI_LIBS) -o $@

# The same kernels under the CUDA emulator (tests/emu), which needs only
# g++: build/emu has the GPU test and nc-train/nc-sample linked against it,
# so that the GPU checks run (slowly) on any machine. `make test-emu`.
EMU_CXX    := $(CXX) -std=c++17 -O2 -g -Wall -Wno-unused-parameter -Wno-unused-function -Wno-unknown-pragmas
EMU_LIB    := build/emu/libnc_cuda_emu.a
EMU_OBJ    := $(CU_SRC:kernels/%.cu=build/emu/kernels/%.o) build/emu/cuda_emu.o build/emu/nccl_emu.o
EMU_TESTS  := $(patsubst tests/gpu/%.c,build/emu/tests/gpu_%,$(wildcard tests/gpu/test_*.c))

build/emu/kernels/%.cpp: kernels/%.cu tests/emu/cu2cpp.sed
	@mkdir -p $(dir $@)
	sed -E -f tests/emu/cu2cpp.sed $< >$@

build/emu/kernels/%.o: build/emu/kernels/%.cpp tests/emu/cuda_emu.h $(wildcard tests/emu/include/*.h) kernels/ops_cuda.h kernels/cuda_common.h lib/ops.h
	$(EMU_CXX) -include tests/emu/cuda_emu.h -Itests/emu/include -Ikernels -c $< -o $@

build/emu/cuda_emu.o: tests/emu/cuda_emu.cpp tests/emu/cuda_emu.h tests/emu/include/mma.h
	@mkdir -p $(dir $@)
	$(EMU_CXX) -Wextra -c $< -o $@

# NCCL's collectives as MPI calls (with MPI; otherwise they fail).
build/emu/nccl_emu.o: tests/emu/nccl_emu.cpp tests/emu/include/nccl.h tests/emu/cuda_emu.h build/.config
	@mkdir -p $(dir $@)
	$(EMU_CXX) -Wextra $(MPI_CFLAGS) -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX -c $< -o $@

$(EMU_LIB): $(EMU_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/emu/tests/gpu_%: tests/gpu/%.c $(EMU_LIB) build/libnc.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(EMU_LIB) build/libnc.a $(LDLIBS) $(BLAS_LIBS) -lstdc++ -o $@

build/emu/cmd/%.o: cmd/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DNC_CUDA -c $< -o $@

build/emu/nc-sample: build/emu/cmd/nc-sample.o build/libnc.a $(EMU_LIB)
	$(CC) $(LDFLAGS) $< build/libnc.a $(EMU_LIB) $(LDLIBS) $(BLAS_LIBS) -lstdc++ -o $@

build/emu/nc-train: build/emu/cmd/nc-train.o build/libnc.a $(EMU_LIB) build/.config
	$(CC) $(LDFLAGS) $< build/libnc.a $(EMU_LIB) $(LDLIBS) $(BLAS_LIBS) $(MPI_LIBS) -lstdc++ -o $@

emu: $(EMU_TESTS) build/emu/nc-sample build/emu/nc-train

test-emu: all emu
	@for t in $(EMU_TESTS); do echo "# $$t (emulated)"; $$t || exit 1; done
	@NC_BIN=build/emu bats --tap tests/gpu/*.bats

# Fuzz targets (tests/fuzz/fuzz_*.c): libFuzzer, ASan and UBSan, built with
# clang over build/fuzz/libnc.a (the library compiled for coverage). `make
# test` runs each for FUZZ_SECONDS (3) from its corpus, tests/fuzz/corpus/;
# `make fuzz` runs each for FUZZ_SECONDS=300. Without clang they skip.
CLANG       ?= $(shell command -v clang 2>/dev/null)
FUZZ_CFLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	       -fno-omit-frame-pointer -MMD -MP
FUZZ        := $(if $(CLANG),$(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c)))

build/fuzz/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/libnc.a: $(LIB_SRC:%.c=build/fuzz/%.o)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libnc.a
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< build/fuzz/libnc.a $(LDLIBS) -o $@

fuzz: $(FUZZ)
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-300} sh tests/fuzz/run.sh

# Everything that needs no GPU; ends with one line "N passed, N failed".
# The CUDA kernels' op-by-op checks run there too, on the emulator, and
# the GPU suite's tests of several ranks (NCCL).
ifneq ($(SAN),1)
test: all $(UNIT) $(EMU_TESTS) build/emu/nc-train build/emu/nc-sample $(FUZZ)
	@sh tests/run.sh $(UNIT) $(EMU_TESTS)
else
test: test-san
endif

# `make test SAN=1`: the unit tests, the fuzz corpora (replayed, not
# fuzzed) and the Bats suites SAN_BATS under ASan and UBSan, leaks checked.
# Built in build-san/, a tree of links to this one with its own build/,
# without CUDA (nvcc does not take the flags); tests/lsan.supp names the
# leaks of other libraries that are not nc's to mend.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# Left out: checks.bats checks the source tree (it copies lib/, a link
# there); tinyrun.bats trains for many minutes under the sanitizers.
SAN_BATS  ?= $(filter-out tests/checks.bats tests/tinyrun.bats,$(wildcard tests/*.bats))
# Slow unwinding on malloc: Open MPI's leaks (tests/lsan.supp) are only
# named by the whole stack.
SAN_ENV   := ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1 \
	     LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
test-san: $(FUZZ)
	@mkdir -p build-san/tests
	@for f in cmd kernels lib man sh Makefile README.md .venv; do ln -sfn ../$$f build-san/$$f; done
	@for f in tests/*; do ln -sfn ../../$$f build-san/$$f; done
	+@CFLAGS="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" $(MAKE) -s -C build-san SAN=0 CUDA=0 \
	  all $(UNIT)
	@cd build-san && $(SAN_ENV) FUZZ_SECONDS=0 FUZZ_BUILD=$(CURDIR)/build/fuzz NC_BATS="$(SAN_BATS)" \
	  sh tests/run.sh $(UNIT)

# The CUDA kernels against the CPU ops; skips (and says so) without a GPU.
test-gpu: all
	@test "$(CUDA)" = 1 || { echo "test-gpu: built without CUDA (no nvcc)"; exit 1; }
	@$(MAKE) -s $(patsubst tests/gpu/%.c,build/tests/gpu_%,$(wildcard tests/gpu/test_*.c))
	@for t in $(patsubst tests/gpu/%.c,build/tests/gpu_%,$(wildcard tests/gpu/test_*.c)); do \
	  echo "# $$t"; $$t || exit 1; done
	@bats --tap tests/gpu/*.bats

# Install the Debian packages nc needs (as root), and the Python oracles
# used by the tests into .venv.
setup:
	@sh sh/setup.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 build/libnc.a $(DESTDIR)$(PREFIX)/lib
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 man/nc-formats.5 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 man/nc.7 $(DESTDIR)$(PREFIX)/share/man/man7

clean:
	rm -rf build build-san

.PHONY: test-gpu test-emu emu all test test-san setup install clean fuzz FORCE
.SECONDARY:
-include $(shell find build -name '*.d' 2>/dev/null)
