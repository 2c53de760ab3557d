/* What a training run runs on, recorded in the start record of every (re)start (metrics.jsonl) and
 * in every checkpoint (attribute "software"): the git commit and build settings of the binary and
 * the versions of MPI, HDF5, OpenBLAS and, where built, CUDA, cuBLAS, cuDNN and NCCL. As one JSON
 * object:
 *   {"git_commit": "0123abcd4567", "build": "gcc 12.2.0; CUDA=1 ...",
 *    "environment": "MASKDIT_ATTENTION=gemm" (the MASKDIT_* switches set, "" for none),
 *    "libraries": {"mpi": "Open MPI v4.1.4, ...", "hdf5": "1.10.8", "openblas": "OpenBLAS 0.3.21 ...",
 *                  "cuda_runtime": "12.4", "cuda_driver": "12.4", "cublas": "12.4.5", "cudnn": "9.13.0",
 *                  "nccl": "2.21.5"}}
 * The CUDA members appear only in a build with CUDA; "cudnn" is "not used" in a build without
 * cuDNN (it is optional: only the VAE's convolutions use it). */
#ifndef MASKDIT_TRAIN_RUN_INFO_H
#define MASKDIT_TRAIN_RUN_INFO_H

/* malloc'ed JSON object text. */
char *run_info_json(void);

#endif
