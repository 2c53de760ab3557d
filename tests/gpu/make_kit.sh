#!/usr/bin/env bash
# Packs, on a build machine with our Debian packages, what tests/gpu/run.sh needs on a GPU machine
# that lacks them (the lent H100/H200 image has CUDA and PyTorch with NVIDIA's library wheels, but
# no MPI, HDF5, OpenBLAS or libyaml): .gpukit/kit.tar.xz, about 35 MB (xz: the CUDA fat binaries
# compress to 60% of gzip's size, and a call to the GPU machine carries at most 64 MiB), holding
#   bin/       every program, built here with CUDA (sm_80, sm_90 + PTX; nvcc of the same CUDA 13)
#   lib/       every shared library they or the Open MPI components load, except glibc's own, the
#              GPU driver and the CUDA libraries (cudart, cuBLAS, cuBLASLt, NCCL, cuDNN: the GPU
#              machine has them; run.sh finds them. cuDNN loads its engine libraries at run time,
#              which ldd does not list, so its loader must come from the same installation)
#   ompi/      the Open MPI runtime that MPI_Init opens in a singleton run (components, help texts,
#              orted, mpirun), laid out under a prefix that run.sh passes as OPAL_PREFIX; run.sh
#              sets ess_singleton_isolated (no orted for one process) and plm=isolated (mpirun
#              on this node without ssh)
#   pmix/      the PMIx components (PMIX_INSTALL_PREFIX)
#   golden/    ../shared/golden/maskdit_tiny.h5 (../shared does not travel to the GPU machine)
# The GPU machine's glibc must be at least this machine's (Debian 12: 2.36; Ubuntu 24.04 has 2.39).
#
#   bash tests/gpu/make_kit.sh          then run tests/gpu/run.sh there with `.gpukit` carried
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT=.gpukit
STAGE=$KIT/stage
MA=x86_64-linux-gnu
OMPI_SRC=/usr/lib/$MA/openmpi
PMIX_SRC=/usr/lib/$MA/pmix2

make CUDA=1 -j"$(nproc)" >/dev/null
rm -rf "$STAGE" && mkdir -p "$STAGE"/{bin,lib,golden} "$STAGE/ompi/lib/$MA/openmpi/lib" "$STAGE/ompi/bin" \
    "$STAGE/ompi/share" "$STAGE/pmix/lib" "$STAGE/pmix/share"
cp -a bin/maskdit-* bin/gpu bin/bench "$STAGE/bin/"
cp -a "$OMPI_SRC/lib/openmpi3" "$STAGE/ompi/lib/$MA/openmpi/lib/"
cp -a /usr/share/openmpi "$STAGE/ompi/share/"
cp -L /usr/bin/orted "$STAGE/ompi/bin/"
cp -L /usr/bin/orterun "$STAGE/ompi/bin/mpirun"
cp -a "$PMIX_SRC/lib/pmix" "$STAGE/pmix/lib/"
cp -a "$PMIX_SRC/share/." "$STAGE/pmix/share/"
[ -d /usr/share/pmix ] && cp -a /usr/share/pmix "$STAGE/pmix/share/pmix-help"
cp ../shared/golden/maskdit_tiny.h5 "$STAGE/golden/"

# Shared libraries of every ELF file staged, transitively (ldd resolves the whole closure).
# Left out: glibc (the GPU machine's is newer), the driver and the CUDA libraries.
skip='^(ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libutil|libanl|libnss_.*|libcuda|libcudart|libcublas|libcublasLt|libcudnn|libnccl|libnvidia-.*)\.so'
find "$STAGE" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
    xargs -0 -n 50 ldd 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
    while read -r path; do
        name=$(basename "$path")
        [[ $name =~ $skip ]] && continue
        cp -L "$path" "$STAGE/lib/$name"
    done
missing=$(find "$STAGE" -type f \( -perm -u+x -o -name '*.so*' \) -print0 | xargs -0 -n 50 ldd 2>/dev/null |
          awk '/not found/ { print $1 }' | sort -u | grep -Ev 'libcuda\.so' || true)
[ -z "$missing" ] || echo "make_kit: note, not found here either (left out): $missing"

rm -f "$KIT/kit.tar.gz"   # an older kit format
tar -C "$STAGE" -cf - . | xz -T0 -6 >"$KIT/kit.tar.xz.tmp" && mv "$KIT/kit.tar.xz.tmp" "$KIT/kit.tar.xz"
rm -rf "$STAGE"
echo "make_kit: $KIT/kit.tar.xz ($(du -h "$KIT/kit.tar.xz" | cut -f1)); carry '$KIT' with tests/gpu/run.sh"
