/* The floating-point element types that weight files store (torch storages, safetensors dtypes)
 * and their conversion to float32. Data is little-endian, like every host this runs on. */
#ifndef MASKDIT_FLOAT_DATA_H
#define MASKDIT_FLOAT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "../util/common.h"

typedef enum { FD_FLOAT32, FD_FLOAT16, FD_BFLOAT16, FD_FLOAT64, FD_NOT_FLOAT } FloatData;

/* "float32", "float16", "bfloat16", "float64", "not floating point". */
const char *float_data_name(FloatData t);

/* Bytes per element (0 for FD_NOT_FLOAT, whose size the format gives). */
size_t float_data_size(FloatData t);

/* n elements of type t at src to float32 (t != FD_NOT_FLOAT). */
void float_data_to_f32(FloatData t, const void *src, float *dst, size_t n);

/* Read n elements of type t at byte offset `at` of fd into dst as float32: 0, or -1 with errno
 * set (errno 0: the file ended first). float32 is read straight into dst. */
int float_data_pread(int fd, uint64_t at, FloatData t, size_t n, float *dst);

#endif
