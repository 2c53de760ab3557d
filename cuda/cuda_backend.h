/* What the CUDA backend exposes beyond the Backend table, for code that must meet it on the device:
 * the NCCL gradient all-reduce orders its communication stream after the backend's compute stream
 * and checks its CUDA calls the backend's way. Only for builds with CUDA (MASKDIT_CUDA); b must
 * come from backend_cuda_create. */
#ifndef MASKDIT_CUDA_BACKEND_H
#define MASKDIT_CUDA_BACKEND_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "../src/backend/backend.h"

/* A checked CUDA runtime call: a failure ends the job with file:line, the call and CUDA's message. */
void cuda_check_at(cudaError_t e, const char *what, const char *file, int line);
#define CUDA_CHECK(call) cuda_check_at((call), #call, __FILE__, __LINE__)

/* The stream every op of the backend runs on, in order. */
cudaStream_t cuda_backend_stream(Backend *b);
/* The CUDA device the backend runs on (current on the thread that created it). */
int cuda_backend_device(Backend *b);

#ifdef __cplusplus
}
#endif

#endif
