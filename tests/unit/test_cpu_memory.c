/* CPU backend: aligned allocation, the peak-memory counter, the out-of-memory message, copies,
 * and the fp32 <-> bf16 / fp16 casts (round to nearest even, specials, every 16-bit pattern). */
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu_op_check.h"

static void alloc_is_aligned_and_peak_is_tracked(void) {
    Backend *b = backend_cpu_create(2);
    CHECK(b->peak_bytes(b) == 0, "fresh backend peak %zu", b->peak_bytes(b));
    void *a = b->alloc(b, 1000, "a"), *c = b->alloc(b, 3, "c");
    CHECK(((uintptr_t)a % 64) == 0 && ((uintptr_t)c % 64) == 0, "64-byte alignment");
    CHECK(b->peak_bytes(b) == 1003, "peak after two blocks: %zu", b->peak_bytes(b));
    b->free(b, a);
    void *d = b->alloc(b, 500, "d");
    CHECK(b->peak_bytes(b) == 1003, "peak must stay at the high-water mark: %zu", b->peak_bytes(b));
    void *e = b->alloc(b, 600, "e");
    CHECK(b->peak_bytes(b) == 1103, "peak after growing past it: %zu", b->peak_bytes(b));
    b->free(b, NULL);
    b->free(b, c), b->free(b, d), b->free(b, e);
    b->destroy(b);
}

/* The job ends with FATAL naming what was being allocated and the size. */
static void alloc_failure_names_what_and_size(void) {
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        Backend *b = backend_cpu_create(1);
        b->alloc(b, SIZE_MAX / 2, "the giant test buffer");
        _exit(0);   /* not reached when alloc fails as it must */
    }
    close(fds[1]);
    char msg[1024] = "";
    size_t len = 0;
    ssize_t got;
    while (len < sizeof msg - 1 && (got = read(fds[0], msg + len, sizeof msg - 1 - len)) > 0) len += (size_t)got;
    msg[len] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit status %d", status);
    char size[64];
    snprintf(size, sizeof size, "%zu bytes", (size_t)(SIZE_MAX / 2));
    CHECK(strstr(msg, "out of memory") && strstr(msg, "the giant test buffer") && strstr(msg, size),
          "message: %s", msg);
    CHECK(strstr(msg, "cpu_memory.c:"), "FATAL must give file:line: %s", msg);
}

static void copies_and_zero(void) {
    float h[37], back[37];
    for (int i = 0; i < 37; i++) h[i] = (float)i - 3.5f;
    float *a = dev_from(h, 37), *c = be->alloc(be, sizeof h, "c");
    be->copy(be, c, a, sizeof h);
    be->sync(be);
    be->to_host(be, back, c, sizeof back);
    CHECK(memcmp(h, back, sizeof h) == 0, "copy");
    be->zero(be, c + 5, 10 * sizeof(float));
    be->to_host(be, back, c, sizeof back);
    for (int i = 0; i < 37; i++) CHECK(back[i] == (i >= 5 && i < 15 ? 0.0f : h[i]), "zero of a range, element %d", i);
    be->free(be, a), be->free(be, c);

    /* Buffers large enough to be split over the threads, and an overlapping copy. */
    const size_t n = 3 << 20;   /* 12 MiB of floats */
    float *big = host_randn(n, 1), *back_big = malloc(n * sizeof *back_big);
    float *d_big = dev_from(big, n), *d_copy = be->alloc(be, n * sizeof(float), "copy");
    be->copy(be, d_copy, d_big, n * sizeof(float));
    be->to_host(be, back_big, d_copy, n * sizeof(float));
    CHECK(memcmp(big, back_big, n * sizeof(float)) == 0, "large copy");
    be->copy(be, d_copy + 1000, d_copy, (n - 1000) * sizeof(float));   /* overlapping: a move */
    be->to_host(be, back_big, d_copy, n * sizeof(float));
    CHECK(memcmp(back_big + 1000, big, (n - 1000) * sizeof(float)) == 0, "overlapping copy");
    be->zero(be, d_copy + 7, (n - 9) * sizeof(float));
    be->to_host(be, back_big, d_copy, n * sizeof(float));
    size_t nonzero = 0;
    for (size_t i = 7; i < n - 2; i++) nonzero += back_big[i] != 0.0f;
    CHECK(nonzero == 0 && back_big[n - 1] == big[n - 1001] && back_big[6] == big[6], "large zero: %zu left", nonzero);
    free(big), free(back_big);
    be->free(be, d_big), be->free(be, d_copy);
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint16_t cast_one(DType to, float v) {
    uint16_t out = 0;
    be->cast(be, &out, to, &v, DTYPE_F32, 1);
    return out;
}

static void casts_round_to_nearest_even(void) {
    /* bf16: 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even 1; 1 + 3 * 2^-8 goes
     * up to the even 1 + 2^-6; just above halfway rounds up. */
    CHECK(cast_one(DTYPE_BF16, 1.0f) == 0x3f80, "bf16(1)");
    CHECK(cast_one(DTYPE_BF16, 1.0f + 0x1p-8f) == 0x3f80, "bf16 tie down to even");
    CHECK(cast_one(DTYPE_BF16, 1.0f + 3 * 0x1p-8f) == 0x3f82, "bf16 tie up to even");
    CHECK(cast_one(DTYPE_BF16, from_bits(0x3f808001)) == 0x3f81, "bf16 above halfway");
    CHECK(cast_one(DTYPE_BF16, -2.5f) == 0xc020, "bf16(-2.5)");
    CHECK(cast_one(DTYPE_BF16, INFINITY) == 0x7f80, "bf16(inf)");
    CHECK(cast_one(DTYPE_BF16, from_bits(0x7f7fffff)) == 0x7f80, "bf16(FLT_MAX) rounds to inf");
    uint16_t nan_bf = cast_one(DTYPE_BF16, from_bits(0x7f800001));   /* NaN with only a low payload bit */
    CHECK((nan_bf & 0x7f80) == 0x7f80 && (nan_bf & 0x7f) != 0, "bf16 NaN stays NaN: %#x", nan_bf);
    /* fp16: max 65504; 65520 is halfway to 65536 and rounds (to even) to inf; subnormals. */
    CHECK(cast_one(DTYPE_F16, 1.0f) == 0x3c00, "f16(1)");
    CHECK(cast_one(DTYPE_F16, 1.0f + 0x1p-11f) == 0x3c00, "f16 tie down to even");
    CHECK(cast_one(DTYPE_F16, 1.0f + 3 * 0x1p-11f) == 0x3c02, "f16 tie up to even");
    CHECK(cast_one(DTYPE_F16, 65504.0f) == 0x7bff, "f16 max");
    CHECK(cast_one(DTYPE_F16, 65520.0f) == 0x7c00, "f16 overflow to inf");
    CHECK(cast_one(DTYPE_F16, 0x1p-24f) == 0x0001, "f16 smallest subnormal");
    CHECK(cast_one(DTYPE_F16, 0x1p-25f) == 0x0000, "f16 subnormal tie to even zero");
    CHECK(cast_one(DTYPE_F16, 3 * 0x1p-25f) == 0x0002, "f16 subnormal tie to even");
    CHECK(cast_one(DTYPE_F16, -0.0f) == 0x8000, "f16(-0)");
    uint16_t nan_h = cast_one(DTYPE_F16, NAN);
    CHECK((nan_h & 0x7c00) == 0x7c00 && (nan_h & 0x3ff) != 0, "f16 NaN stays NaN: %#x", nan_h);
}

/* Every 16-bit pattern survives 16 -> f32 -> 16 (NaNs stay NaN), and widening is exact. */
static void casts_round_trip_every_pattern(void) {
    uint16_t *bits = malloc(65536 * sizeof *bits), *back = malloc(65536 * sizeof *back);
    float *wide = malloc(65536 * sizeof *wide);
    for (uint32_t i = 0; i < 65536; i++) bits[i] = (uint16_t)i;
    DType types[2] = {DTYPE_BF16, DTYPE_F16};
    for (int k = 0; k < 2; k++) {
        be->cast(be, wide, DTYPE_F32, bits, types[k], 65536);
        be->cast(be, back, types[k], wide, DTYPE_F32, 65536);
        int bad = 0;
        for (uint32_t i = 0; i < 65536; i++) {
            int is_nan = k == 0 ? (i & 0x7f80) == 0x7f80 && (i & 0x7f) : (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
            if (is_nan) bad += !isnan(wide[i]);
            else bad += back[i] != bits[i];
        }
        CHECK(bad == 0, "%s: %d patterns do not survive the round trip", dtype_name(types[k]), bad);
    }
    /* Known widenings, and bf16 -> fp16 directly. */
    CHECK(wide[0x3c00] == 1.0f && wide[0x0001] == 0x1p-24f && wide[0xfbff] == -65504.0f, "f16 values");
    uint16_t one_bf = 0x3f80, one_h = 0;
    be->cast(be, &one_h, DTYPE_F16, &one_bf, DTYPE_BF16, 1);
    CHECK(one_h == 0x3c00, "bf16 -> f16 of 1: %#x", one_h);
    free(bits), free(back), free(wide);
}

/* Random values: the result is the nearest representable value (half an ulp at most). */
static void casts_of_random_values_are_nearest(void) {
    const size_t n = 4096;
    float *x = host_randn(n, 50), *wide = malloc(n * sizeof *wide);
    uint16_t *h = malloc(n * sizeof *h);
    const DType types[2] = {DTYPE_BF16, DTYPE_F16};
    const int mant_bits[2] = {7, 10};
    for (int k = 0; k < 2; k++) {
        be->cast(be, h, types[k], x, DTYPE_F32, n);
        be->cast(be, wide, DTYPE_F32, h, types[k], n);
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            if (fabsf(x[i]) < 1e-4f) continue;   /* fp16 subnormals: absolute, not relative, spacing */
            int ex;
            frexp(x[i], &ex);
            double half_ulp = ldexp(1.0, ex - 2 - mant_bits[k]);
            worst = fmax(worst, fabs((double)wide[i] - x[i]) / half_ulp);
        }
        CHECK(worst <= 1.0, "%s: error %g half-ulps", dtype_name(types[k]), worst);
    }
    free(x), free(wide), free(h);
}

int main(void) {
    check_setup(6);
    RUN(alloc_is_aligned_and_peak_is_tracked);
    RUN(alloc_failure_names_what_and_size);
    RUN(copies_and_zero);
    RUN(casts_round_to_nearest_even);
    RUN(casts_round_trip_every_pattern);
    RUN(casts_of_random_values_are_nearest);
    be->destroy(be);
    return test_summary();
}
