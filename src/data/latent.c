#include "latent.h"

/* The branch-free selects below (clamps, quadrants) only vectorise when float comparisons are
 * not treated as trapping; nothing here relies on floating-point exceptions. */
#pragma GCC optimize("no-trapping-math")

#include <math.h>
#include <string.h>
#if defined(__AVX__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "../util/common.h"
#include "../util/rng.h"

/* Counter blocks are made GROUP at a time. */
#define GROUP 256

#ifdef __AVX2__
/* 32x32 -> 64-bit products of 8 lanes: the even and odd lanes are multiplied separately
 * (vpmuludq) and recombined into the high and low halves. */
static inline void mulhilo8(__m256i a, __m256i m, __m256i *hi, __m256i *lo) {
    __m256i even = _mm256_mul_epu32(a, m), odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}
#endif

/* Philox4x32-10 of blocks first_block .. first_block+GROUP-1 of the stream with counter words
 * 1..3 = ctr_hi: 8 blocks per step with AVX2 (integer arithmetic: bit-identical to the scalar
 * reference philox4x32_10 of src/util/rng.c, which is used without AVX2). */
static void philox_group(uint32_t first_block, const uint32_t ctr_hi[3], const uint32_t key[2],
                         uint32_t out[4][GROUP]) {
#ifdef __AVX2__
    const __m256i m0 = _mm256_set1_epi32((int)0xD2511F53u), m1 = _mm256_set1_epi32((int)0xCD9E8D57u);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int l = 0; l < GROUP; l += 8) {
        __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)(first_block + (uint32_t)l)), lane);
        __m256i c1 = _mm256_set1_epi32((int)ctr_hi[0]), c2 = _mm256_set1_epi32((int)ctr_hi[1]);
        __m256i c3 = _mm256_set1_epi32((int)ctr_hi[2]);
        uint32_t k0 = key[0], k1 = key[1];
        for (int round = 0; round < 10; round++) {
            __m256i hi0, lo0, hi1, lo1;
            mulhilo8(c0, m0, &hi0, &lo0);
            mulhilo8(c2, m1, &hi1, &lo1);
            c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
            c1 = lo1;
            c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
            c3 = lo0;
            k0 += 0x9E3779B9u; /* the Weyl key schedule of Philox4x32 */
            k1 += 0xBB67AE85u;
        }
        _mm256_storeu_si256((__m256i *)&out[0][l], c0);
        _mm256_storeu_si256((__m256i *)&out[1][l], c1);
        _mm256_storeu_si256((__m256i *)&out[2][l], c2);
        _mm256_storeu_si256((__m256i *)&out[3][l], c3);
    }
#else
    for (int l = 0; l < GROUP; l++) {
        uint32_t ctr[4] = {first_block + (uint32_t)l, ctr_hi[0], ctr_hi[1], ctr_hi[2]}, w[4];
        philox4x32_10(ctr, key, w);
        for (int k = 0; k < 4; k++) out[k][l] = w[k];
    }
#endif
}

/* Bit-level access to float32 (exponent extraction and construction below). */
typedef union {
    float f;
    uint32_t u;
} FloatBits;

/* -2 ln(u) for u = k / 2^24, k in [1, 2^24]: u = 2^e m with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.172 (odd series to s^9: error < 4e-10). */
static inline float minus_two_log(float u) {
    uint32_t b = (FloatBits){.f = u}.u;
    int e = (int)(b >> 23) - 127;
    float m = (FloatBits){.u = (b & 0x7fffffu) | 0x3f800000u}.f;
    int big = m > 1.41421356f;
    m = big ? 0.5f * m : m;
    e += big;
    float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    float ln_m = 2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
    return -2.0f * ((float)e * 0.693147180559945f + ln_m);
}

/* sin and cos of 2 pi t for t = k / 2^24 in [0, 1): t - q/4 (exact) is within 1/8 of a turn, where
 * Taylor polynomials of degree 9 / 10 are accurate to 2e-9; the quadrant q rotates the result. */
static inline void sincos_turns(float t, float *s_out, float *c_out) {
    float q = floorf(4.0f * t + 0.5f);
    float x = (t - 0.25f * q) * 6.28318530717959f, x2 = x * x;
    float s = x * (1.0f + x2 * (-1.0f / 6 + x2 * (1.0f / 120 + x2 * (-1.0f / 5040 + x2 * (1.0f / 362880)))));
    float c = 1.0f + x2 * (-0.5f + x2 * (1.0f / 24 + x2 * (-1.0f / 720 + x2 * (1.0f / 40320 - x2 * (1.0f / 3628800)))));
    int quadrant = (int)q;
    *s_out = (quadrant & 1 ? c : s) * (quadrant & 2 ? -1.0f : 1.0f);
    *c_out = (quadrant & 1 ? s : c) * ((quadrant + 1) & 2 ? -1.0f : 1.0f);
}

/* Correctly rounded square roots, in place (the intrinsic because sqrtf's errno handling keeps
 * the compiler from vectorising it; the results are identical). */
static void sqrt_n(float *x, int n) {
    int i = 0;
#ifdef __AVX__
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_sqrt_ps(_mm256_loadu_ps(x + i)));
#endif
    for (; i < n; i++) x[i] = sqrtf(x[i]);
}

void latent_eps_fill(uint64_t seed, uint64_t g, float *eps, size_t n) {
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr_hi[3] = {RNG_LATENT_EPS, (uint32_t)(g >> 32), (uint32_t)g};
    uint32_t w[4][GROUP];
    /* [0, GROUP): the pairs from words (0, 1) of each block, [GROUP, 2 GROUP): from words (2, 3) */
    float radius[2 * GROUP], sin_t[2 * GROUP], cos_t[2 * GROUP], z[4 * GROUP];
    size_t blocks = (n + 3) / 4;
    for (size_t first = 0; first < blocks; first += GROUP) {
        philox_group((uint32_t)first, ctr_hi, key, w);
        for (int half = 0; half < 2; half++) {
            const uint32_t *wr = w[2 * half], *wt = w[2 * half + 1];
            float *r = radius + half * GROUP, *s = sin_t + half * GROUP, *c = cos_t + half * GROUP;
#pragma omp simd
            for (int l = 0; l < GROUP; l++) r[l] = minus_two_log((float)((wr[l] >> 8) + 1u) * 0x1p-24f);
#pragma omp simd
            for (int l = 0; l < GROUP; l++) sincos_turns((float)(wt[l] >> 8) * 0x1p-24f, &s[l], &c[l]);
        }
        sqrt_n(radius, 2 * GROUP);
        for (int l = 0; l < GROUP; l++) {
            z[4 * l] = radius[l] * cos_t[l];
            z[4 * l + 1] = radius[l] * sin_t[l];
            z[4 * l + 2] = radius[GROUP + l] * cos_t[GROUP + l];
            z[4 * l + 3] = radius[GROUP + l] * sin_t[GROUP + l];
        }
        size_t take = MIN(n - 4 * first, 4 * (size_t)GROUP);
        memcpy(eps + 4 * first, z, take * sizeof *z);
    }
}

/* exp(y) for y in [-15, 10]: 2^k e^r with k = round(y / ln 2), |r| <= ln(2)/2 (Cody-Waite split of
 * ln 2), e^r by its Taylor polynomial to r^7 (relative error < 1e-8). */
static inline float exp_small(float y) {
    float k = floorf(y * 1.44269504088896f + 0.5f);
    float r = (y - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    return p * (FloatBits){.u = (uint32_t)((int)k + 127) << 23}.f;
}

void latent_from_moments(const float *mean, const float *logvar, const float *eps, size_t n, float scale, float *z) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float lv = logvar[i] < -30.0f ? -30.0f : logvar[i] > 20.0f ? 20.0f : logvar[i];
        z[i] = scale * (mean[i] + exp_small(0.5f * lv) * eps[i]);
    }
}
