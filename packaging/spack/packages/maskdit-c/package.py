# Spack recipe of MaskDiT-C (INSTALL.md, "Spack"). Build from a checkout:
#   spack repo add packaging/spack   (a package repository: repo.yaml and packages/maskdit-c)
#   spack dev-build --source-path . maskdit-c@develop +cuda cuda_arch=90
# The build runs the project's own make targets (`make`, `make install PREFIX=...`), handing the
# dependencies' prefixes to the Makefile's variables.
from spack.package import *


class MaskditC(MakefilePackage):
    """MaskDiT (masked diffusion transformers) in C for HPC clusters: MPI, parallel HDF5,
    OpenBLAS+OpenMP on CPUs, CUDA and NCCL on GPUs."""

    version("develop")

    variant("cuda", default=True, description="Build the CUDA backend (cuBLAS, NCCL)")
    variant("cuda_arch", default="80,90", multi=True, values=("70", "80", "86", "89", "90", "100"),
            description="GPU compute capabilities to build for", when="+cuda")

    depends_on("gmake", type="build")
    depends_on("pkgconfig", type="build")
    depends_on("mpi")
    depends_on("hdf5+mpi")
    depends_on("openblas threads=openmp")
    depends_on("libyaml")
    depends_on("lmdb")
    depends_on("zlib-api")
    depends_on("cuda", when="+cuda")
    depends_on("nccl", when="+cuda")

    def _make_args(self):
        spec = self.spec
        args = [
            "CC=" + spec["mpi"].mpicc,
            "HDF5_DIR=" + spec["hdf5"].prefix,
            "OPENBLAS_ROOT=" + spec["openblas"].prefix,
            "PREFIX=" + self.prefix,
        ]
        if spec.satisfies("+cuda"):
            archs = " ".join(spec.variants["cuda_arch"].value)
            args += ["CUDA=1", "CUDA_HOME=" + spec["cuda"].prefix,
                     "NVCC=" + join_path(spec["cuda"].prefix.bin, "nvcc"), "CUDA_ARCHS=" + archs]
        else:
            args.append("CUDA=0")
        return args

    def build(self, spec, prefix):
        make(*self._make_args())

    def install(self, spec, prefix):
        make("install", *self._make_args())
