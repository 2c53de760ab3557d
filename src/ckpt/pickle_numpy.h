/* NumPy arrays in a pickle stream (the unpickled values of src/ckpt/pickle.h), in every form that
 * pickle.dumps(array, protocol=2..5) produces, from numpy 1.x (numpy.core) and 2.x (numpy._core):
 *  - protocols 2-4: numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') followed by BUILD with
 *    the state (version, shape, dtype, is_fortran, raw bytes) of ndarray.__setstate__;
 *  - protocol 5: numpy.core.numeric._frombuffer(buffer, dtype, shape, order) with the buffer in
 *    band (BYTEARRAY8 / bytes).
 * The dtype is numpy.dtype(typestr, ...) with the byte order in its BUILD state. */
#ifndef MASKDIT_PICKLE_NUMPY_H
#define MASKDIT_PICKLE_NUMPY_H

#include "pickle.h"

#define PK_NDARRAY_MAX_DIMS 16

typedef struct {
    char dtype[16];                         /* NumPy's type string: "<f4", "|u1", ... */
    int ndim;
    long long shape[PK_NDARRAY_MAX_DIMS];
    int fortran;                            /* data in column-major (Fortran) order */
    const unsigned char *data;              /* points into the unpickled values */
    size_t nbytes;                          /* = product of shape * item size, checked */
} PkNdarray;

/* The array v describes; -1 with a message "<where>: ..." saying what v is instead. */
int pk_ndarray(const PkValue *v, const char *where, PkNdarray *a, Error *e);

#endif
