#include "half.h"

#include <string.h>
#ifdef __F16C__
#include <immintrin.h>
#endif

static inline uint32_t bits_of(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

static inline float float_of(uint32_t x) {
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    /* Inf; NaN with its payload and the quiet bit set (as the F16C instruction does) */
    if (exponent == 0x1f) return float_of(sign | 0x7f800000u | (mantissa << 13) | (mantissa ? 0x400000u : 0));
    if (exponent == 0) {
        /* zero or subnormal: mantissa * 2^-24, exact in float */
        float v = (float)mantissa * 0x1p-24f;
        return float_of(sign | bits_of(v));
    }
    return float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

uint16_t half_from_float(float f) {
    uint32_t x = bits_of(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00u | (uint16_t)((ax >> 13) & 0x1ffu); /* NaN stays a (quiet) NaN */
    if (ax >= 0x477ff000u) return sign | 0x7c00u;     /* >= 65520 (and Inf) rounds to Inf */
    if (ax >= 0x38800000u) {                           /* normal half: rebias 127 -> 15, round 23 -> 10 bits */
        uint32_t r = ax - 0x38000000u;
        return sign | (uint16_t)((r + 0x0fffu + ((r >> 13) & 1u)) >> 13);
    }
    if (ax <= 0x33000000u) return sign;                /* <= 2^-25: rounds to zero (2^-25 is a tie to even 0) */
    /* subnormal half: round(|f| / 2^-24), ties to even; may round up into the smallest normal */
    uint32_t exponent = ax >> 23, mantissa = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - exponent;                  /* 14 .. 24 */
    uint32_t q = mantissa >> shift, rest = mantissa & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (q & 1u))) q++;
    return sign | (uint16_t)q;
}

void half_to_float_n(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
#endif
    for (; i < n; i++) dst[i] = half_to_float(src[i]);
}

void half_from_float_n(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; i++) dst[i] = half_from_float(src[i]);
}
