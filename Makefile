# MaskDiT-C build.
#
#   make            build every program into bin/ (CPU always; the CUDA backend when nvcc is found)
#   make CUDA=0     skip the CUDA backend;  make CUDA=1  require it
#   make deps       install the Debian packages the build, the tests and the demo need (root)
#   make test       build and run the whole test suite (last line: "N passed, N failed")
#   make demo       the CPU demo: Fashion-MNIST, 2 MPI ranks, samples + loss curve
#   make bench      benchmarks (never part of the tests)
#
# Layout: every .c file under src/*/, mpi/ and data-tools/ goes into build/libmaskdit.a, except
# program mains, which are named maskdit-*.c and become bin/maskdit-*. Unit tests are
# tests/unit/test_*.c -> bin/tests/test_*.

# Debian packages of the build, the tests and the demo (one list: `make deps` and .ci/run use it).
DEBIAN_PACKAGES := build-essential pkg-config libopenblas-openmp-dev libopenmpi-dev openmpi-bin \
    libhdf5-openmpi-dev hdf5-tools libyaml-dev liblmdb-dev lmdb-utils zlib1g-dev \
    dataset-fashion-mnist python3 python3-numpy python3-h5py python3-pil \
    slurm-wlm slurm-client munge

# Build on every core unless -j was given (sub-makes share the top make's job slots).
ifeq ($(MAKELEVEL),0)
  ifeq ($(filter -j%,$(MAKEFLAGS)),)
    MAKEFLAGS += -j$(shell nproc)
  endif
endif

CC := mpicc
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

# The OpenMP build of OpenBLAS, linked by path: inside our OpenMP regions its SGEMM runs
# single-threaded instead of oversubscribing the cores with its own thread pool.
BLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-openmp

# Parallel HDF5: its pkg-config package (HDF5_PKG=hdf5 for many cluster modules), or set
# HDF5_CFLAGS / HDF5_LIBS on the command line (INSTALL.md).
HDF5_PKG ?= hdf5-openmpi
HDF5_CFLAGS := $(shell pkg-config --cflags $(HDF5_PKG) 2>/dev/null)
HDF5_LIBS := $(shell pkg-config --libs $(HDF5_PKG) 2>/dev/null)
# MPI include flags for the files nvcc compiles (it does not go through mpicc).
MPI_CFLAGS ?= $(shell $(CC) --showme:compile 2>/dev/null)

ARCH ?= -march=x86-64-v3
CFLAGS ?= -O3 $(ARCH) -g
CFLAGS += -std=gnu11 -fopenmp -Wall -Wextra -Wno-unused-parameter -Werror=implicit-function-declaration \
    -Werror=return-type -D_GNU_SOURCE -I$(BLAS_INC) $(HDF5_CFLAGS) -MMD -MP
LDLIBS := $(HDF5_LIBS) -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas -lyaml -llmdb -lz -lpthread -lm
LDFLAGS += -fopenmp
# what a program needs without the CUDA libraries (tests/fakegpu stands in for them)
HOST_LDLIBS := $(LDLIBS)

# ---- CUDA: auto when nvcc exists; CUDA=1 requires it; CUDA=0 skips it ----
ifeq ($(CUDA),)
  CUDA := $(if $(NVCC),1,0)
endif
ifeq ($(CUDA),1)
  ifeq ($(NVCC),)
    $(error CUDA=1 but nvcc was not found (set NVCC=/path/to/nvcc or put it on PATH))
  endif
  # Machine code for each of CUDA_ARCHS, and PTX of the last one for newer GPUs
  # (`make CUDA_ARCHS=90` builds for Hopper only, in half the time).
  CUDA_ARCHS ?= 80 90
  NVCCFLAGS ?= -O3 -g -lineinfo
  NVCCFLAGS += -std=c++17 -MMD -MP $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
      -gencode arch=compute_$(lastword $(CUDA_ARCHS)),code=compute_$(lastword $(CUDA_ARCHS)) \
      -Xcompiler -fPIC,-Wall $(HDF5_CFLAGS) -ccbin g++ $(MPI_CFLAGS)
  CUDA_SRC := $(wildcard cuda/*.cu)
  CUDA_C_SRC := $(wildcard mpi/*_nccl.c)
  CFLAGS_CUDA := -DMASKDIT_CUDA -I$(CUDA_HOME)/include
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lnccl -lcudart -lstdc++
  # cuDNN is optional (a separate library on clusters): conv2d uses it where cudnn.h is found under
  # CUDNN_HOME (default CUDA_HOME; libraries in CUDNN_LIB), else im2col + GEMMs. CUDNN=0 skips it.
  CUDNN_HOME ?= $(CUDA_HOME)
  CUDNN_LIB ?= $(CUDNN_HOME)/lib64
  CUDNN ?= $(if $(wildcard $(CUDNN_HOME)/include/cudnn.h),1,0)
  ifeq ($(CUDNN),1)
    NVCCFLAGS += -DMASKDIT_CUDNN -I$(CUDNN_HOME)/include
    LDLIBS += -L$(CUDNN_LIB) -Wl,-rpath,$(CUDNN_LIB) -lcudnn
  endif
  ABSENT_SRC :=
else
  CUDA_SRC :=
  CUDA_C_SRC :=
  CFLAGS_CUDA :=
  ABSENT_SRC := $(wildcard cuda/absent.c mpi/nccl_absent.c)
endif

# The commit and the build settings that src/util/build_info.c records (in every run's start record
# and checkpoint). build/.build-info changes only when they do, so that only that file recompiles.
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
BUILD_SETTINGS := CUDA=$(CUDA)$(if $(filter 1,$(CUDA)), CUDA_ARCHS=$(CUDA_ARCHS) CUDNN=$(CUDNN)) HDF5_PKG=$(HDF5_PKG) CFLAGS=$(filter-out -I% -MMD -MP,$(CFLAGS))
BUILD_INFO := $(GIT_COMMIT) $(BUILD_SETTINGS)
$(shell mkdir -p build && (echo '$(BUILD_INFO)' | cmp -s - build/.build-info || echo '$(BUILD_INFO)' >build/.build-info))
build/src/util/build_info.o: build/.build-info
build/src/util/build_info.o: CFLAGS += -DMASKDIT_GIT_COMMIT='"$(GIT_COMMIT)"' -DMASKDIT_BUILD_SETTINGS='"$(BUILD_SETTINGS)"'

PROG_C := $(wildcard src/apps/maskdit-*.c data-tools/maskdit-*.c)
LIB_C := $(filter-out $(PROG_C) mpi/%_nccl.c mpi/nccl_absent.c, $(wildcard src/*/*.c mpi/*.c data-tools/*.c)) \
    $(ABSENT_SRC) $(CUDA_C_SRC)
TEST_C := $(wildcard tests/unit/test_*.c)
BENCH_C := $(wildcard tests/bench/bench_*.c)
# Programs for a GPU machine (tests/gpu/run.sh); built everywhere so that CI compiles them.
GPU_TEST_C := $(wildcard tests/gpu/*.c)

# CUDA kernels (those kept in cuda/*_kernels.cuh) run on the CPU under tests/simt's emulation; they
# need only CUDA's headers (the bf16/fp16 types), so CI builds and runs them wherever the toolkit is.
SIMT_TEST_CC := $(if $(wildcard $(CUDA_HOME)/include/cuda_bf16.h),$(wildcard tests/simt/test_*.cc))
# The NCCL gradient all-reduce runs on the host over tests/fakegpu's emulated CUDA runtime and NCCL,
# compiled against their real headers: it too is built and run wherever the toolkit is.
FAKEGPU_TEST := $(if $(wildcard $(CUDA_HOME)/include/nccl.h),bin/tests/test_gradcomm_nccl)

LIB_OBJ := $(patsubst %.c,build/%.o,$(LIB_C)) $(patsubst %.cu,build/%.o,$(CUDA_SRC))
PROGS := $(patsubst %.c,bin/%,$(notdir $(PROG_C)))
TESTS := $(patsubst tests/unit/%.c,bin/tests/%,$(TEST_C))
BENCHES := $(patsubst tests/bench/%.c,bin/bench/%,$(BENCH_C))
GPU_TESTS := $(patsubst tests/gpu/%.c,bin/gpu/%,$(GPU_TEST_C))
SIMT_TESTS := $(patsubst tests/simt/%.cc,bin/tests/%,$(SIMT_TEST_CC))
LIB := build/libmaskdit.a

.PHONY: all deps ensure-deps test demo bench clean
# Keep the objects of program mains (intermediate files of a pattern chain) so that a second
# `make` finds nothing to do. Only those: a bare .SECONDARY makes every target intermediate, and a
# missing intermediate prerequisite (the CUDA stamp, cuda/absent.o) then rebuilds nothing, so that
# switching CUDA=0/1 kept the other build's library.
.SECONDARY: $(patsubst %.c,build/%.o,$(PROG_C) $(TEST_C) $(BENCH_C) $(GPU_TEST_C))
all: $(PROGS) $(TESTS) $(BENCHES) $(GPU_TESTS) $(SIMT_TESTS) $(FAKEGPU_TEST)

# The CPU backend's loops use inline math (src/cpu/cpu_math.h) that GCC vectorises only when it
# may assume floating-point operations do not trap and math functions do not set errno; they
# never do here (no FP exception is unmasked, errno is not read).
build/src/cpu/%.o: CFLAGS += -fno-trapping-math -fno-math-errno

# V=1 shows the full commands.
Q := $(if $(V),,@)

build/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $<")
	$(Q)$(CC) $(CFLAGS) $(CFLAGS_CUDA) -c $< -o $@

build/%.o: %.cu
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC  $<")
	$(Q)$(NVCC) $(NVCCFLAGS) -c $< -o $@

# The library's members depend on CUDA=0/1: switching rebuilds it (and relinks the programs).
CUDA_STAMP := build/.cuda-$(CUDA)
$(CUDA_STAMP):
	@mkdir -p build && rm -f build/.cuda-* && touch $@

# conv_cudnn.o depends on CUDNN=0/1 in the same way.
ifeq ($(CUDA),1)
build/cuda/conv_cudnn.o: build/.cudnn-$(CUDNN)
build/.cudnn-$(CUDNN):
	@mkdir -p build && rm -f build/.cudnn-* && touch $@
endif

$(LIB): $(LIB_OBJ) $(CUDA_STAMP)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $(LIB_OBJ)

define link
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK  $@")
	$(Q)$(CC) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@
endef

bin/%: build/src/apps/%.o $(LIB)
	$(link)

bin/%: build/data-tools/%.o $(LIB)
	$(link)

bin/tests/%: build/tests/unit/%.o $(LIB)
	$(link)

bin/bench/%: build/tests/bench/%.o $(LIB)
	$(link)

# The kernels pun 16-bit pairs through uint32_t, as CUDA code does: no strict aliasing on the host.
bin/tests/test_simt_%: tests/simt/test_simt_%.cc $(wildcard tests/simt/*.h cuda/*.cuh) tests/unit/test.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CXX   $<")
	$(Q)g++ -std=c++17 -O2 -g -Wall -Wextra -Wno-unknown-pragmas -fno-strict-aliasing -I$(CUDA_HOME)/include $< -o $@

bin/gpu/%: build/tests/gpu/%.o $(LIB)
	$(link)

FAKEGPU_SRC := tests/fakegpu/test_gradcomm_nccl.c tests/fakegpu/fake_runtime.c mpi/gradcomm_nccl.c
bin/tests/test_gradcomm_nccl: $(FAKEGPU_SRC) tests/unit/gradcomm_cases.h tests/unit/test.h $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $@ (emulated CUDA runtime and NCCL)")
	$(Q)$(CC) $(filter-out -MMD -MP,$(CFLAGS)) -I$(CUDA_HOME)/include $(LDFLAGS) $(FAKEGPU_SRC) $(LIB) $(HOST_LDLIBS) -o $@

# Install the Debian packages (root, or sudo).
deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES)

# `make test` and `make demo` work on a fresh machine: they install what is missing first. The
# build runs in a sub-make so that its flags (pkg-config, mpicc) are read after the install.
ensure-deps:
	@missing=; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing missing Debian packages:$$missing"; $(MAKE) --no-print-directory deps; fi

test: ensure-deps
	@$(MAKE) --no-print-directory all
	bash tests/run.sh

demo: ensure-deps
	@$(MAKE) --no-print-directory all
	bash jobs/demo.sh

bench: all
	bash tests/bench/run.sh

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
