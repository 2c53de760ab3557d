/* safetensors files, read directly in C: an 8-byte little-endian header length N, N bytes of JSON
 * ({"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *   "__metadata__": {string: string}}), then the data, each tensor's bytes at [begin, end) of the
 * data section, little-endian, row-major.
 *
 * Everything is checked when the file is opened: the header length against the file size, the
 * JSON, each entry's fields, a dtype the format defines, end - begin = elements x element size,
 * the data section inside the file. Messages name the file and the key. F32, F16, BF16 and F64
 * tensors are read as float32; other dtypes (integers, bool, 8-bit floats) are listed and refused
 * when read. Data is read per tensor by byte range. */
#ifndef MASKDIT_SAFETENSORS_H
#define MASKDIT_SAFETENSORS_H

#include "float_data.h"
#include "tensor_match.h"

typedef struct {
    TensorMeta meta;        /* name (owned) and shape */
    size_t numel;
    FloatData dtype;        /* FD_NOT_FLOAT for the dtypes not read here */
    const char *dtype_name; /* as in the header: "F32", "I64", ... (static) */
    uint64_t begin, end;    /* byte range within the data section */
} StTensor;

typedef struct {
    char *path;
    int fd;
    uint64_t file_size;
    uint64_t data_start;    /* 8 + header length */
    StTensor *tensors;      /* in header order */
    int count;
} SafeTensors;

SafeTensors *st_open(const char *path, Error *e);
void st_close(SafeTensors *st);

/* Whether head[0, n) (a file's first bytes) looks like a safetensors file: a plausible header
 * length followed by '{' (st_open then checks the length against the file). */
int st_sniff(const unsigned char *head, size_t n);

/* Tensor i's numel values as float32. */
int st_read_tensor(const SafeTensors *st, int i, float *dst, Error *e);

#endif
