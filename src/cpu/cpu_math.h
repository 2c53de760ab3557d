/* Scalar math that GCC can vectorise inside the CPU backend's loops (a libm call in a loop
 * keeps it scalar unless the whole build uses -ffast-math, which would also break NaN checks). */
#ifndef MASKDIT_CPU_MATH_H
#define MASKDIT_CPU_MATH_H

#include <stdint.h>
#include <string.h>

/* e^x in float, within about 2 ulp: x = k ln2 + r with |r| <= ln2/2 (ln2 split in two parts so
 * that k ln2 is exact enough), e^r = 1 + r + r^2 P(r) with the degree-5 polynomial P of Cephes'
 * expf, and 2^k built in the exponent bits. k comes out of the float addition of 1.5 * 2^23,
 * which rounds x/ln2 to the nearest integer and leaves k in the low mantissa bits, so no
 * float-to-int conversion is needed. Results below e^-87 (1.6e-38) are returned as 0 and inputs
 * above 87 are clamped to 87, so that no result and no sigmoid 1/(1 + e^x) built from it is
 * denormal (denormals cost a microcode assist per operation, in our loops and in the SGEMMs that
 * consume softmax probabilities). NaN stays NaN.
 *
 * The clamp works on the bit pattern with integer min: as unsigned, negative floats order by
 * magnitude above every positive one; as signed, positive floats keep their order and negative
 * ones are below all of them. A float comparison there lets GCC split the vector loop into the
 * clamped cases, evaluating e.g. x / (1 + e^87) for every lane, whose denormal results made
 * SiLU 10x slower. */
static inline float cpu_expf(float x) {
    const float x_in = x;
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    const uint32_t underflow = u > 0xc2ae0000u ? 0u : ~0u;   /* bits of -87.0f: x < -87 gives 0 */
    u = u < 0xc2ae0000u ? u : 0xc2ae0000u;
    int32_t s = (int32_t)u;
    s = s < 0x42ae0000 ? s : 0x42ae0000;   /* bits of 87.0f: x <= 87 */
    memcpy(&x, &s, sizeof x);
    const float shifter = 12582912.0f;   /* 1.5 * 2^23 */
    float t = x * 1.44269504088896341f + shifter;
    float k = t - shifter;
    float r = x - k * 0.693359375f;
    r = r + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    uint32_t eb = ((tb - 0x4b400000u + 127u) << 23) & underflow;   /* tb - bits(1.5 * 2^23) = k */
    float two_k;
    memcpy(&two_k, &eb, sizeof two_k);
    return x_in == x_in ? p * two_k : x_in;
}

/* SiLU, x * sigmoid(x). */
static inline float cpu_silu_f(float x) { return x / (1.0f + cpu_expf(-x)); }

#endif
