/* The token kernels of cuda/tokens_kernels.cuh (rows moved by index: gather, its backward scatter,
 * un-masking with and without a mask token, its backward; the mask token's gradient) and the loss
 * kernel of cuda/loss_kernels.cuh (EDM denoising + MAE loss and dLoss/dF), run on the CPU by
 * tests/simt/simt.h in the launch shapes of cuda/tokens.cu and cuda/loss.cu, in fp32, bf16 and
 * fp16, against references computed here from the ops' definitions (src/backend/backend.h). The
 * GPU runs these ops against the CPU backend in tests/gpu/check_ops.c.
 *
 * Row moves in each unit the launcher may pick (16, 4 or 2 bytes: the widest that divides the
 * row size, every buffer here being 16-byte aligned), with rows of more units than a warp has
 * lanes and row counts that leave the last block part empty; outputs that a kernel overwrites
 * start as NaN, so a row left unwritten fails.
 *
 * Limits: row moves exact; the mask token's gradient (fp32, summed in double) and the loss (fp32,
 * from double) as check_ops' fp32 outputs, 1e-5 in fp32 runs and 1e-4 in bf16/fp16 runs
 * (normwise, ||kernel - ref|| / ||ref||); dF (act) as its act outputs: fp32 1e-5, bf16 1e-2,
 * fp16 5e-3. */
#include "simt.h"

#include "../../cuda/loss_kernels.cuh"
#include "../../cuda/tokens_kernels.cuh"
#include "../unit/test.h"
#include "reference.h"

#include <vector>

namespace {


/* Per sample, a random permutation `shuffle` of 0..L-1 (xorshift seeded by seed) and its inverse
 * `restore`, as the masking code produces them: keep = the first K of shuffle. */
struct Masking {
    std::vector<int32_t> keep, restore;
    Masking(int N, int L, int K, uint64_t seed) : keep((size_t)N * K), restore((size_t)N * L) {
        uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
        std::vector<int32_t> shuffle(L);
        for (int n = 0; n < N; n++) {
            for (int l = 0; l < L; l++) shuffle[l] = l;
            for (int l = L - 1; l > 0; l--) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                std::swap(shuffle[l], shuffle[s % (uint64_t)(l + 1)]);
            }
            for (int l = 0; l < L; l++) restore[(size_t)n * L + shuffle[l]] = l;
            for (int k = 0; k < K; k++) keep[(size_t)n * K + k] = shuffle[k];
        }
    }
};

/* ---- row moves ---- */

/* move_rows_kernel over `rows` rows as cuda/tokens.cu launches it: the widest unit dividing rb. */
void move(const RowMove &m, size_t rows) {
    const SimtDim grid = {(unsigned)((rows + MOVE_ROWS_PER_BLOCK - 1) / MOVE_ROWS_PER_BLOCK), 1, 1},
                  block = {32, MOVE_ROWS_PER_BLOCK, 1};
    simt::launch(grid, block, [&] {
        if (m.rb % 16 == 0) move_rows_kernel<uint4>(m, rows, (int)(m.rb / 16));
        else if (m.rb % 4 == 0) move_rows_kernel<uint32_t>(m, rows, (int)(m.rb / 4));
        else move_rows_kernel<uint16_t>(m, rows, (int)(m.rb / 2));
    });
}

/* The rows of got that differ from want, bit for bit (rows of `width` elements). */
template <typename T> size_t wrong_rows(const std::vector<T> &got, const std::vector<T> &want, int width) {
    size_t wrong = 0;
    for (size_t r = 0; r < want.size() / width; r++)
        wrong += memcmp(&got[r * width], &want[r * width], width * sizeof(T)) != 0;
    return wrong;
}

template <typename T> void check_tokens(int N, int L, int K, int width) {
    const size_t rb = (size_t)width * sizeof(T), all = (size_t)N * L * width, kept = (size_t)N * K * width;
    const int unit = rb % 16 == 0 ? 16 : rb % 4 == 0 ? 4 : 2;
    char what[96];
    snprintf(what, sizeof what, "%s N%d L%d K%d W%d (%d-byte units)", type_name<T>(), N, L, K, width, unit);
    const Masking ids(N, L, K, 61 + width);
    Drawn<T> full(all, 63 + width, -2, 2), fill(width, 67 + width, -2, 2);
    const T poison = from_f32<T>(NAN), zero = from_f32<T>(0.0f);
    auto row = [&](std::vector<T> &v, size_t r) { return &v[r * width]; };
    auto copy_row = [&](T *dst, const T *src) { memcpy(dst, src, rb); };

    /* gather: out[n,k] = full[n, keep[n,k]] */
    std::vector<T> gathered(kept, poison), gathered_ref(kept);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            copy_row(row(gathered_ref, (size_t)n * K + k), &full.h[((size_t)n * L + ids.keep[(size_t)n * K + k]) * width]);
    move(RowMove{GATHER, (char *)gathered.data(), (const char *)full.h.data(), nullptr, ids.keep.data(), L, K, rb},
         (size_t)N * K);
    size_t w = wrong_rows(gathered, gathered_ref, width);
    CHECK(w == 0, "%s: gather: %zu of %d rows wrong", what, w, N * K);

    /* its backward: zeros (the launcher's memset), then din[n, keep[n,k]] = dout[n,k] */
    std::vector<T> scattered(all, zero), scattered_ref(all, zero);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            copy_row(row(scattered_ref, (size_t)n * L + ids.keep[(size_t)n * K + k]), row(gathered_ref, (size_t)n * K + k));
    move(RowMove{SCATTER, (char *)scattered.data(), (const char *)gathered_ref.data(), nullptr, ids.keep.data(), L, K,
                 rb},
         (size_t)N * K);
    w = wrong_rows(scattered, scattered_ref, width);
    CHECK(w == 0, "%s: gather backward: %zu of %d rows wrong", what, w, N * L);

    /* un-masking: out[n,l] = kept[n, r] if r = restore[n,l] < K, else the mask token (or zeros) */
    for (int with_fill = 0; with_fill < 2; with_fill++) {
        std::vector<T> un(all, poison), un_ref(all);
        for (size_t nl = 0; nl < (size_t)N * L; nl++) {
            int r = ids.restore[nl];
            size_t n = nl / L;
            if (r < K) copy_row(row(un_ref, nl), row(gathered_ref, n * K + r));
            else if (with_fill) copy_row(row(un_ref, nl), fill.h.data());
            else std::fill(row(un_ref, nl), row(un_ref, nl) + width, zero);
        }
        move(RowMove{UNMASK, (char *)un.data(), (const char *)gathered_ref.data(),
                     with_fill ? (const char *)fill.h.data() : nullptr, ids.restore.data(), L, K, rb},
             (size_t)N * L);
        w = wrong_rows(un, un_ref, width);
        CHECK(w == 0, "%s: unmask (%s): %zu of %d rows wrong", what, with_fill ? "mask token" : "zeros", w, N * L);
    }

    /* its backward: din[n, r] = dout[n,l] for r = restore[n,l] < K (each kept row once) */
    std::vector<T> din(kept, poison), din_ref(kept);
    for (size_t nl = 0; nl < (size_t)N * L; nl++)
        if (ids.restore[nl] < K) copy_row(row(din_ref, nl / L * K + ids.restore[nl]), &full.h[nl * width]);
    move(RowMove{UNMASK_BACKWARD, (char *)din.data(), (const char *)full.h.data(), nullptr, ids.restore.data(), L, K,
                 rb},
         (size_t)N * L);
    w = wrong_rows(din, din_ref, width);
    CHECK(w == 0, "%s: unmask backward: %zu of %d rows wrong", what, w, N * K);

    /* the mask token's gradient: dfill[c] += sum of dout[n,l,c] over restore[n,l] >= K */
    std::vector<float> dfill = Drawn<float>(width, 71 + width, -1, 1).h;
    std::vector<double> dfill_ref(dfill.begin(), dfill.end());
    for (size_t nl = 0; nl < (size_t)N * L; nl++)
        if (ids.restore[nl] >= K)
            for (int c = 0; c < width; c++) dfill_ref[c] += full.v[nl * width + c];
    simt::launch(SimtDim{(unsigned)(width + 31) / 32, 1, 1}, SimtDim{32, FILL_ROWS, 1}, [&] {
        fill_grad_kernel<T>(dfill.data(), full.h.data(), ids.restore.data(), (size_t)N * L, K, width);
    });
    double e = normwise(dfill, dfill_ref);
    CHECK(e <= f32_limit<T>(), "%s: mask token gradient rel %.3g (limit %g)", what, e, f32_limit<T>());
}

template <typename T> void check_tokens_type() {
    /* rows of 33 to 50 units; N * K and N * L not multiples of MOVE_ROWS_PER_BLOCK nor of FILL_ROWS;
     * widths of one and of two column blocks (the second partial) of the mask token's gradient */
    if (sizeof(T) == 4) {
        check_tokens<T>(3, 21, 10, 200);   /* 800-byte rows: 16-byte units */
        check_tokens<T>(3, 21, 10, 37);    /* 148: 4-byte units */
    } else {
        check_tokens<T>(3, 21, 10, 264);   /* 528: 16-byte units */
        check_tokens<T>(3, 21, 10, 66);    /* 132: 4-byte units */
        check_tokens<T>(3, 21, 10, 37);    /* 74: 2-byte units */
    }
    check_tokens<T>(2, 5, 1, 8);           /* one kept token; rows of fewer units than lanes */
}

void tokens_fp32() { check_tokens_type<float>(); }
void tokens_bf16() { check_tokens_type<__nv_bfloat16>(); }
void tokens_fp16() { check_tokens_type<__half>(); }

/* ---- EDM + MAE loss ---- */

/* The loss of backend.h's edm_loss in float64, and grad_scale * d loss[n] / dF. */
struct LossReference {
    std::vector<double> loss, dF;
    LossReference(int N, int L, int P, const std::vector<double> &F, const std::vector<float> &x,
                  const std::vector<float> &xn, const float *tgt, const float *mask, const std::vector<float> &cs,
                  const std::vector<float> &co, const std::vector<float> &w, float mae_coef, float grad_scale)
        : loss(N), dF((size_t)N * L * P) {
        const bool mae = mask && tgt && mae_coef > 0.0f;
        for (int n = 0; n < N; n++) {
            double kept = 0.0, removed = 0.0;
            for (int l = 0; l < L; l++) {
                double m = mask ? mask[(size_t)n * L + l] : 0.0;
                kept += 1.0 - m, removed += m;
            }
            double dsm = 0.0, mae_sum = 0.0;   /* sums over patches of the per-patch means */
            for (int l = 0; l < L; l++) {
                double m = mask ? mask[(size_t)n * L + l] : 0.0;
                for (int p = 0; p < P; p++) {
                    size_t i = ((size_t)n * L + l) * P + p;
                    double dx = (double)cs[n] * xn[i] + (double)co[n] * F[i], r = dx - x[i];
                    double q = mae ? dx - tgt[i] : 0.0;
                    dsm += (1.0 - m) * w[n] * r * r / P;
                    mae_sum += m * q * q / P;
                    double g = 0.0;
                    if (kept > 0.0) g += (1.0 - m) * w[n] * 2.0 * r / (P * kept);
                    if (mae && removed > 0.0) g += mae_coef * m * 2.0 * q / (P * removed);
                    dF[i] = grad_scale * co[n] * g;
                }
            }
            loss[n] = (kept > 0.0 ? dsm / kept : 0.0) + (mae && removed > 0.0 ? mae_coef * mae_sum / removed : 0.0);
        }
    }
};

enum MaskCase { NO_MASK, MASK };

/* N = 4 samples; with a mask, sample 0 has half its patches removed, sample 1 none (no MAE term),
 * sample 2 all (no denoising term), sample 3 about a third. */
template <typename T> void check_loss(int L, int P, MaskCase masked, bool with_tgt, float mae_coef, bool with_dF) {
    const int N = 4;
    const size_t NLP = (size_t)N * L * P;
    const float grad_scale = 1.0f / N;
    char what[128];
    snprintf(what, sizeof what, "%s L%d P%d%s%s mae_coef %g%s", type_name<T>(), L, P, masked ? " mask" : "",
             with_tgt ? " target" : "", mae_coef, with_dF ? "" : " no dF");
    Drawn<T> F(NLP, 81 + L, -1, 1);
    std::vector<float> x = Drawn<float>(NLP, 83 + L, -1, 1).h, xn = Drawn<float>(NLP, 85 + L, -2, 2).h,
                       tgt = Drawn<float>(NLP, 87 + L, -1, 1).h, cs = Drawn<float>(N, 89, 0.4, 0.6).h,
                       co = Drawn<float>(N, 91, 0.4, 0.6).h, w = Drawn<float>(N, 93, 2.5, 3.5).h;
    std::vector<float> mask((size_t)N * L);
    const Masking half(1, L, L / 2, 95 + L), third(1, L, L - L / 3, 97 + L);
    for (int l = 0; l < L; l++) {
        mask[l] = half.restore[l] >= L / 2;
        mask[L + l] = 0.0f;
        mask[2 * L + l] = 1.0f;
        mask[3 * L + l] = third.restore[l] >= L - L / 3;
    }
    const float *mask_p = masked ? mask.data() : nullptr, *tgt_p = with_tgt ? tgt.data() : nullptr;
    const LossReference ref(N, L, P, F.v, x, xn, tgt_p, mask_p, cs, co, w, mae_coef, grad_scale);

    std::vector<float> loss(N, NAN);
    std::vector<T> dF(NLP, from_f32<T>(NAN));
    simt::launch(SimtDim{(unsigned)N, 1, 1}, SimtDim{LOSS_THREADS, 1, 1}, [&] {
        edm_loss_kernel<T>(loss.data(), with_dF ? dF.data() : nullptr, F.h.data(), x.data(), xn.data(), tgt_p, mask_p,
                           cs.data(), co.data(), w.data(), L, P, mae_coef, grad_scale);
    });
    double e_loss = normwise(loss, ref.loss);
    CHECK(e_loss <= f32_limit<T>(), "%s: loss rel %.3g (limit %g)", what, e_loss, f32_limit<T>());
    if (with_dF) {
        double e_dF = normwise(dF, ref.dF);
        CHECK(e_dF <= act_limit<T>(), "%s: dF rel %.3g (limit %g)", what, e_dF, act_limit<T>());
        printf("    %-44s loss %.1e  dF %.1e\n", what, e_loss, e_dF);
    } else {
        size_t written = 0;
        for (const T &v : dF) written += !std::isnan(to_f32(v));
        CHECK(written == 0, "%s: %zu elements of dF written without a dF", what, written);
    }
}

template <typename T> void check_loss_type() {
    check_loss<T>(300, 3, MASK, true, 0.1f, true);     /* more patches than threads; L * P not a multiple */
    check_loss<T>(300, 3, MASK, false, 0.1f, true);    /* no MAE target: no MAE term */
    check_loss<T>(300, 3, MASK, true, 0.0f, true);     /* MAE coefficient 0: no MAE term */
    check_loss<T>(300, 3, NO_MASK, true, 0.1f, true);  /* no mask: every patch kept, no MAE term */
    check_loss<T>(16, 4, MASK, true, 0.1f, true);      /* fewer values than threads */
    check_loss<T>(16, 4, MASK, true, 0.1f, false);     /* the loss alone */
}

void loss_fp32() { check_loss_type<float>(); }
void loss_bf16() { check_loss_type<__nv_bfloat16>(); }
void loss_fp16() { check_loss_type<__half>(); }

}   // namespace

int main() {
    RUN_IN_BOTH_ORDERS(tokens_fp32);
    RUN_IN_BOTH_ORDERS(tokens_bf16);
    RUN_IN_BOTH_ORDERS(tokens_fp16);
    RUN_IN_BOTH_ORDERS(loss_fp32);
    RUN_IN_BOTH_ORDERS(loss_bf16);
    RUN_IN_BOTH_ORDERS(loss_fp16);
    return test_summary();
}
