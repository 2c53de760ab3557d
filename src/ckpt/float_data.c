#include "float_data.h"

#include <errno.h>
#include <string.h>

#include "../util/fileio.h"
#include "../util/half.h"

const char *float_data_name(FloatData t) {
    static const char *const names[] = {"float32", "float16", "bfloat16", "float64", "not floating point"};
    return names[t];
}

size_t float_data_size(FloatData t) {
    static const size_t sizes[] = {4, 2, 2, 8, 0};
    return sizes[t];
}

void float_data_to_f32(FloatData t, const void *src, float *dst, size_t n) {
    switch (t) {
    case FD_FLOAT32: memmove(dst, src, n * sizeof *dst); break;
    case FD_FLOAT16: half_to_float_n(src, dst, n); break;
    case FD_BFLOAT16:
        for (size_t i = 0; i < n; i++) {   /* bfloat16: the upper half of a float32 */
            uint32_t bits = (uint32_t)((const uint16_t *)src)[i] << 16;
            memcpy(&dst[i], &bits, sizeof bits);
        }
        break;
    case FD_FLOAT64:
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const double *)src)[i];
        break;
    case FD_NOT_FLOAT: FATAL("float_data_to_f32: not a floating-point type");
    }
}

int float_data_pread(int fd, uint64_t at, FloatData t, size_t n, float *dst) {
    size_t bytes = n * float_data_size(t);
    if (t == FD_FLOAT32) return pread_full(fd, dst, bytes, at);
    void *tmp = xmalloc(bytes ? bytes : 1, "tensor data");
    int rc = pread_full(fd, tmp, bytes, at);
    if (rc == 0) float_data_to_f32(t, tmp, dst, n);
    int saved = errno;
    free(tmp);
    errno = saved;
    return rc;
}
