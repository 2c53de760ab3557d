/* The kernels of attention.cu's batched-GEMM path (cuda/attention_kernels.cuh), run on the CPU by
 * tests/simt/simt.h in attention.cu's launch shapes: the pointer arrays of the batched GEMMs, the
 * scores S (fp32) turned into probabilities P (act dtype) in place with and without finding the
 * log-sum-exp, and the score gradients dP (fp32) turned into dS (act dtype) in place, against
 * float64 from the same fp32 / rounded inputs. The GPU runs these ops against the CPU backend in
 * tests/gpu/check_ops.c.
 *
 * Limits (normwise, ||kernel - ref|| / ||ref||), as check_ops': fp32 1e-5; outputs rounded to bf16
 * 1e-2, to fp16 5e-3; the log-sum-exp (fp32 from fp32 scores) 1e-5 in every precision.
 *
 * The rows are rewritten in place, 16-bit value j over fp32 value j/2, so that a lane may write
 * only after the lanes reading that value have read it: every case runs with the lowest-numbered
 * and with the highest-numbered lane ahead (simt::schedule), the order that shows a missing
 * __syncwarp. Row lengths: 1, a part of a warp, one warp and one more or less, many warps. */
#include "simt.h"

#include "../../cuda/attention_kernels.cuh"
#include "../unit/test.h"
#include "reference.h"

#include <string.h>

#include <type_traits>
#include <vector>

namespace {

const int LENGTHS[] = {1, 5, 17, 31, 32, 33, 128, 1000};

template <typename T> double limit_of() { return sizeof(T) == 4 ? 1e-5 : std::is_same<T, __half>::value ? 5e-3 : 1e-2; }

/* attention.cu's launch of the row kernels: one warp per row */
SimtDim rows_grid(int rows) {
    return SimtDim{(unsigned)(((size_t)rows * 32 + ATTENTION_ROW_THREADS - 1) / ATTENTION_ROW_THREADS), 1, 1};
}
const SimtDim ROW_BLOCK = {ATTENTION_ROW_THREADS, 1, 1};

/* Rows per case, fewer when they are long (the emulation's time); never a multiple of the 8 rows
 * of a block, so that the last block has warps without a row. */
int rows_of(int T_) { return T_ >= 1000 ? 3 : 13; }

/* Row stride, in act elements, of rows of T_ act values written over rows of T_ floats (4 T_
 * bytes, as attention.cu's P and dS). */
template <typename T> int act_stride(int T_) { return T_ * (int)(sizeof(float) / sizeof(T)); }

/* An in-place buffer: the rows, then a guard of 32 floats that no kernel may write (a write past
 * the end of a row shows there or in the next row). */
const size_t GUARD = 32;
const float GUARD_VALUE = 12345.0f;
std::vector<float> guarded(const std::vector<float> &rows) {
    std::vector<float> buf(rows);
    buf.resize(rows.size() + GUARD, GUARD_VALUE);
    return buf;
}
bool guard_kept(const std::vector<float> &buf) {
    for (size_t i = buf.size() - GUARD; i < buf.size(); i++)
        if (buf[i] != GUARD_VALUE) return false;
    return true;
}

/* The first T_ act values of each row of an in-place buffer. */
template <typename T> std::vector<T> act_rows(const std::vector<float> &buf, int rows, int T_) {
    const T *p = reinterpret_cast<const T *>(buf.data());
    std::vector<T> out((size_t)rows * T_);
    for (int r = 0; r < rows; r++) memcpy(&out[(size_t)r * T_], p + (size_t)r * act_stride<T>(T_), T_ * sizeof(T));
    return out;
}

/* Scores: uniform in [-a, a) with a row amplitude a of 1, 8 or 100 (exp of the largest scores
 * would overflow fp32 without the max taken out). */
std::vector<float> scores(int rows, int T_, uint64_t seed) {
    Drawn<float> u((size_t)rows * T_, seed, -1, 1);
    static const float amplitude[] = {1.0f, 8.0f, 100.0f};
    std::vector<float> s(u.h);
    for (size_t i = 0; i < s.size(); i++) s[i] *= amplitude[i / T_ % 3];
    return s;
}

/* log sum_j exp(s_j) of each row, in float64 */
std::vector<double> log_sum_exp(const std::vector<float> &s, int rows, int T_) {
    std::vector<double> lse(rows);
    for (int r = 0; r < rows; r++) {
        double mx = -INFINITY, sum = 0.0;
        for (int j = 0; j < T_; j++) mx = fmax(mx, (double)s[(size_t)r * T_ + j]);
        for (int j = 0; j < T_; j++) sum += exp((double)s[(size_t)r * T_ + j] - mx);
        lse[r] = mx + log(sum);
    }
    return lse;
}

/* lse of each row shifted by -0.5, 0 or 0.5 (row r % 3): the probabilities from it do not sum to 1,
 * as a kernel that found its own lse or left it out would make them */
std::vector<float> shifted(const std::vector<double> &lse) {
    std::vector<float> out(lse.size());
    for (size_t r = 0; r < lse.size(); r++) out[r] = (float)lse[r] + 0.5f * ((int)(r % 3) - 1);
    return out;
}

/* exp(s - lse[row]) of each score, in float64 */
template <typename L> std::vector<double> probs(const std::vector<float> &s, const std::vector<L> &lse, int T_) {
    std::vector<double> p(s.size());
    for (size_t i = 0; i < s.size(); i++) p[i] = exp((double)s[i] - (double)lse[i / T_]);
    return p;
}

template <typename T> void check_probs(int T_, const char *what, double (&err)[3]) {
    const int rows = rows_of(T_);
    const double limit = limit_of<T>();
    const std::vector<float> S = scores(rows, T_, 3 + T_);
    const std::vector<double> lse_ref = log_sum_exp(S, rows, T_);

    /* forward: P and lse from S */
    std::vector<float> buf = guarded(S), lse(rows, NAN);
    simt::launch(rows_grid(rows), ROW_BLOCK, [&] { probs_rows_kernel<T>(buf.data(), lse.data(), rows, T_, 1); });
    CHECK(guard_kept(buf), "%s: P written past the last row", what);
    double e_p = normwise(act_rows<T>(buf, rows, T_), probs(S, lse_ref, T_)), e_lse = normwise(lse, lse_ref);
    CHECK(e_p <= limit, "%s: P rel %.3g (limit %g)", what, e_p, limit);
    CHECK(e_lse <= 1e-5, "%s: lse rel %.3g (limit 1e-5)", what, e_lse);

    /* backward: P from S and a given lse (not the rows' own), which stays untouched */
    std::vector<float> given = shifted(lse_ref);
    const std::vector<float> given_kept = given;
    buf = guarded(S);
    simt::launch(rows_grid(rows), ROW_BLOCK, [&] { probs_rows_kernel<T>(buf.data(), given.data(), rows, T_, 0); });
    CHECK(guard_kept(buf), "%s: P from a given lse written past the last row", what);
    double e_given = normwise(act_rows<T>(buf, rows, T_), probs(S, given, T_));
    CHECK(e_given <= limit, "%s: P from a given lse rel %.3g (limit %g)", what, e_given, limit);
    CHECK(memcmp(given.data(), given_kept.data(), rows * sizeof(float)) == 0, "%s: the given lse was written", what);
    err[0] = e_p, err[1] = e_lse, err[2] = e_given;
}

template <typename T> double check_backward(int T_, const char *what) {
    const int rows = rows_of(T_), ldp = act_stride<T>(T_);
    const double limit = limit_of<T>();
    const float scale = 1.0f / sqrtf(72.0f);   /* 1 / sqrt(head width) of XL */

    /* P: exp(S - lse) rounded to T, from a shifted lse so that a row of one is not P = 1 (dS = 0),
     * stored as attention.cu keeps it (act rows in fp32 rows, the rest of each row NaN) */
    const std::vector<float> S = scores(rows, T_, 5 + T_);
    const std::vector<double> p_exact = probs(S, shifted(log_sum_exp(S, rows, T_)), T_);
    std::vector<float> p_buf((size_t)rows * T_, NAN);
    std::vector<double> p((size_t)rows * T_);
    T *p_act = reinterpret_cast<T *>(p_buf.data());
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < T_; j++) {
            T v = from_f32<T>((float)p_exact[(size_t)r * T_ + j]);
            p_act[(size_t)r * ldp + j] = v;
            p[(size_t)r * T_ + j] = (double)to_f32(v);
        }
    Drawn<float> dP((size_t)rows * T_, 7 + T_, -2, 2);

    std::vector<double> ds_ref((size_t)rows * T_);
    for (int r = 0; r < rows; r++) {
        double dot = 0.0;
        for (int j = 0; j < T_; j++) dot += p[(size_t)r * T_ + j] * dP.v[(size_t)r * T_ + j];
        for (int j = 0; j < T_; j++) {
            size_t i = (size_t)r * T_ + j;
            ds_ref[i] = (double)scale * p[i] * (dP.v[i] - dot);
        }
    }
    std::vector<float> buf = guarded(dP.h);
    simt::launch(rows_grid(rows), ROW_BLOCK, [&] {
        softmax_backward_rows_kernel<T>(buf.data(), p_act, ldp, rows, T_, scale);
    });
    CHECK(guard_kept(buf), "%s: dS written past the last row", what);
    double e_ds = normwise(act_rows<T>(buf, rows, T_), ds_ref);
    CHECK(e_ds <= limit, "%s: dS rel %.3g (limit %g)", what, e_ds, limit);
    return e_ds;
}

template <typename T> void check_type(const char *dtype) {
    for (simt::Schedule order : {simt::LOWEST_FIRST, simt::HIGHEST_FIRST}) {
        simt::schedule = order;
        for (int T_ : LENGTHS) {
            char what[64];
            snprintf(what, sizeof what, "%s T%d rows %d %s", dtype, T_, rows_of(T_),
                     order == simt::LOWEST_FIRST ? "lane 0 first" : "lane 31 first");
            double e[3];
            check_probs<T>(T_, what, e);
            double e_ds = check_backward<T>(T_, what);
            printf("    %-30s P %.1e  lse %.1e  P from lse %.1e  dS %.1e\n", what, e[0], e[1], e[2], e_ds);
        }
    }
    simt::schedule = simt::LOWEST_FIRST;
}

void fp32() { check_type<float>("fp32"); }
void bf16() { check_type<__nv_bfloat16>("bf16"); }
void fp16() { check_type<__half>("fp16"); }

/* One pointer per (n, h) of N*H: base + n*sample_stride + h*head_stride, for three matrices; two
 * blocks, the second partial. */
void batch_pointers() {
    const int N = 3, H = 100, NH = N * H;
    static char arena[1 << 20];
    const BatchPtrs a = {arena, 3000, 24}, b = {arena + 8, 2048, 16}, c = {arena + 64, 4096, 40};
    std::vector<const void *> A(NH + 1, nullptr), B(NH + 1, nullptr);
    std::vector<void *> C(NH + 1, nullptr);
    simt::launch(SimtDim{(NH + BATCH_PTRS_THREADS - 1) / BATCH_PTRS_THREADS, 1, 1}, SimtDim{BATCH_PTRS_THREADS, 1, 1},
                 [&] { batch_ptrs_kernel(A.data(), B.data(), C.data(), a, b, c, NH, H); });
    int wrong = 0;
    for (int i = 0; i < NH; i++) {
        size_t n = i / H, h = i % H;
        wrong += A[i] != a.base + n * a.sample_stride + h * a.head_stride;
        wrong += B[i] != b.base + n * b.sample_stride + h * b.head_stride;
        wrong += C[i] != c.base + n * c.sample_stride + h * c.head_stride;
    }
    CHECK(wrong == 0, "%d of %d pointers wrong", wrong, 3 * NH);
    CHECK(!A[NH] && !B[NH] && !C[NH], "a pointer written past the %d (sample, head) pairs", NH);
}

}   // namespace

int main() {
    RUN(batch_pointers);
    RUN(fp32);
    RUN(bf16);
    RUN(fp16);
    return test_summary();
}
