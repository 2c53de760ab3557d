/* Host-to-device copies through pinned staging slots.
 *
 * A cudaMemcpyAsync from pageable memory may make the host wait until the stream reaches the copy
 * (the driver stages it through its own pinned buffer), and the GPU then idles while the host
 * copies. The training step uploads its inputs behind queued kernels (the loss targets behind the
 * forward pass, the next batch behind the optimizer step), so here the host copies into one of
 * UPLOAD_SLOTS pinned slots and returns; the DMA runs in stream order. A slot is reused once the
 * event recorded behind its last copy has completed, so the caller's buffer is free again when the
 * call returns, as for any to_device. Copies larger than the whole ring (parameter uploads at
 * start-up) go straight from pageable memory. */
#include <string.h>

#include "internal.cuh"

#define UPLOAD_SLOT_BYTES ((size_t)2 << 20)

void cuda_to_device(Backend *b, void *dst, const void *src, size_t bytes) {
    CudaState *st = cuda_state(b);
    if (bytes == 0) return;
    if (bytes > (size_t)UPLOAD_SLOTS * UPLOAD_SLOT_BYTES) {
        CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, st->stream));
        return;
    }
    CudaUploads *u = &st->uploads;
    for (size_t off = 0; off < bytes; off += UPLOAD_SLOT_BYTES) {
        size_t n = MIN(UPLOAD_SLOT_BYTES, bytes - off);
        int s = u->next;
        u->next = (s + 1) % UPLOAD_SLOTS;
        if (!u->slot[s]) {   /* slots are made on first use: programs that never upload pin nothing */
            CUDA_CHECK(cudaMallocHost(&u->slot[s], UPLOAD_SLOT_BYTES));
            CUDA_CHECK(cudaEventCreateWithFlags(&u->done[s], cudaEventDisableTiming));
        } else {
            CUDA_CHECK(cudaEventSynchronize(u->done[s]));
        }
        memcpy(u->slot[s], (const char *)src + off, n);
        CUDA_CHECK(cudaMemcpyAsync((char *)dst + off, u->slot[s], n, cudaMemcpyHostToDevice, st->stream));
        CUDA_CHECK(cudaEventRecord(u->done[s], st->stream));
    }
}

void cuda_uploads_destroy(Backend *b) {
    CudaUploads *u = &cuda_state(b)->uploads;
    for (int s = 0; s < UPLOAD_SLOTS; s++) {
        if (!u->slot[s]) continue;
        CUDA_CHECK(cudaEventSynchronize(u->done[s]));
        CUDA_CHECK(cudaEventDestroy(u->done[s]));
        CUDA_CHECK(cudaFreeHost(u->slot[s]));
    }
    memset(u, 0, sizeof *u);
}
