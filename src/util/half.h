/* IEEE 754 binary16 ("half", numpy float16) <-> float32 conversions, bit exact: half -> float is
 * exact; float -> half rounds to nearest, ties to even, like numpy's astype(float16) and the F16C
 * instructions. Used by the dataset shards (float16 storage) and the .npy reader/writer. */
#ifndef MASKDIT_HALF_H
#define MASKDIT_HALF_H

#include <stddef.h>
#include <stdint.h>

float half_to_float(uint16_t h);
uint16_t half_from_float(float f);

/* Bulk conversions (vectorised with F16C where the build has it; same results as the scalar ones). */
void half_to_float_n(const uint16_t *src, float *dst, size_t n);
void half_from_float_n(const float *src, uint16_t *dst, size_t n);

/* Largest finite half: values of larger magnitude become +-Inf when stored as float16. */
#define HALF_MAX 65504.0f

#endif
