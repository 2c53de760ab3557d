#include "edm.h"

#include <math.h>
#include <string.h>

EdmCoeffs edm_coeffs(double sigma, double sd) {
    EdmCoeffs k;
    double s2 = sigma * sigma + sd * sd;
    k.c_skip = sd * sd / s2;
    k.c_out = sigma * sd / sqrt(s2);
    k.c_in = 1.0 / sqrt(s2);
    k.c_noise = log(sigma) / 4.0;
    return k;
}

double edm_weight(double sigma, double sd) { return (sigma * sigma + sd * sd) / ((sigma * sd) * (sigma * sd)); }

/* Visit every value of every patch: token l = i*g + j covers rows i*p..i*p+p-1 and columns
 * j*p..j*p+p-1; within the token the value (c, a, b) sits at (c*p + a)*p + b (the Conv2d weight
 * order of the patch embedding) or at (a*p + b)*C + c (the final layer's order). Samples are
 * spread over the OpenMP threads: this runs on the host for every batch, between GPU steps. */
#define FOR_EACH_PATCH_VALUE(N, C, H, p, abc, IMG_INDEX, TOK_INDEX, BODY)                            \
    do {                                                                                            \
        int g_ = (H) / (p), P_ = (C) * (p) * (p);                                                   \
        _Pragma("omp parallel for schedule(static)")                                                \
        for (int n = 0; n < (N); n++)                                                               \
            for (int i = 0; i < g_; i++)                                                            \
                for (int j = 0; j < g_; j++)                                                        \
                    for (int ch = 0; ch < (C); ch++)                                                \
                        for (int a = 0; a < (p); a++)                                               \
                            for (int b = 0; b < (p); b++) {                                         \
                                size_t IMG_INDEX =                                                  \
                                    (((size_t)n * (C) + ch) * (H) + i * (p) + a) * (H) + j * (p) + b; \
                                size_t TOK_INDEX = ((size_t)n * g_ * g_ + (size_t)i * g_ + j) * P_ + \
                                                   (size_t)((abc) ? (a * (p) + b) * (C) + ch        \
                                                                  : (ch * (p) + a) * (p) + b);      \
                                BODY;                                                               \
                            }                                                                       \
    } while (0)

void patchify_cab(float *out, const float *img, int N, int C, int H, int p) {
    FOR_EACH_PATCH_VALUE(N, C, H, p, 0, pix, tok, out[tok] = img[pix]);
}

void patchify_abc(float *out, const float *img, int N, int C, int H, int p) {
    FOR_EACH_PATCH_VALUE(N, C, H, p, 1, pix, tok, out[tok] = img[pix]);
}

void unpatchify_abc(double *out, const float *tok_in, int N, int C, int H, int p) {
    FOR_EACH_PATCH_VALUE(N, C, H, p, 1, pix, tok, out[pix] = tok_in[tok]);
}

void edm_batch_alloc(EdmBatch *b, const ModelConfig *cfg, int max_batch) {
    memset(b, 0, sizeof *b);
    size_t N = (size_t)max_batch, L = (size_t)model_num_patches(cfg), P = (size_t)model_patch_dim(cfg);
    size_t img = N * (size_t)cfg->in_channels * cfg->input_size * cfg->input_size;
    b->max_batch = max_batch;
    b->L = (int)L;
    b->P = (int)P;
    b->x_noisy = xmalloc(img * sizeof(float), "noisy batch");
    b->xin = xmalloc(img * sizeof(float), "network input batch");
    b->patches = xmalloc(N * L * P * sizeof(float), "patches");
    b->x_tok = xmalloc(N * L * P * sizeof(float), "clean patches");
    b->xn_tok = xmalloc(N * L * P * sizeof(float), "noisy patches");
    b->mae_target = xmalloc(N * L * P * sizeof(float), "MAE target");
    b->mask = xmalloc(N * L * sizeof(float), "mask");
    b->ids_keep = xmalloc(N * L * sizeof(int32_t), "ids_keep");
    b->ids_restore = xmalloc(N * L * sizeof(int32_t), "ids_restore");
    b->ids_shuffle = xmalloc(N * L * sizeof(int32_t), "ids_shuffle");
    b->sigma = xmalloc(N * sizeof(double), "sigma");
    b->c_noise = xmalloc(N * sizeof(double), "c_noise");
    b->c_skip = xmalloc(N * sizeof(float), "c_skip");
    b->c_out = xmalloc(N * sizeof(float), "c_out");
    b->weight = xmalloc(N * sizeof(float), "loss weight");
    b->loss = xmalloc(N * sizeof(float), "loss");
    b->labels = xcalloc(N * (size_t)MAX(cfg->num_classes, 1), sizeof(float), "labels");
    b->final_host = xmalloc(N * L * P * sizeof(float), "network output");
    b->F = xmalloc(img * sizeof(double), "network output image");
}

void edm_batch_free(EdmBatch *b) {
    void *bufs[] = {b->x_noisy, b->xin, b->patches, b->x_tok, b->xn_tok, b->mae_target, b->mask, b->ids_keep,
                    b->ids_restore, b->ids_shuffle, b->sigma, b->c_noise, b->c_skip, b->c_out, b->weight,
                    b->loss, b->labels, b->final_host, b->F};
    for (size_t i = 0; i < ARRAY_LEN(bufs); i++) free(bufs[i]);
    memset(b, 0, sizeof *b);
}

/* Per-patch normalisation of the MAE target: (t - mean) / sqrt(var + eps), unbiased variance. */
static void normalise_patches(float *out, const float *tok, size_t count, int P, double eps) {
#pragma omp parallel for schedule(static)
    for (size_t l = 0; l < count; l++) {
        const float *t = tok + l * P;
        double mean = 0, var = 0;
        for (int k = 0; k < P; k++) mean += t[k];
        mean /= P;
        for (int k = 0; k < P; k++) var += (t[k] - mean) * (t[k] - mean);
        var /= (P - 1);
        double inv = 1.0 / sqrt(var + eps);
        for (int k = 0; k < P; k++) out[l * P + k] = (float)((t[k] - mean) * inv);
    }
}

/* ids_keep = the first len_keep of ids_shuffle, ids_restore = its inverse, mask = 1 where removed. */
static void mask_from_shuffle(EdmBatch *b, const int32_t *ids_shuffle, int N, int L, int len_keep) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const int32_t *s = ids_shuffle + (size_t)n * L;
        for (int k = 0; k < L; k++) {
            if (k < len_keep) b->ids_keep[(size_t)n * len_keep + k] = s[k];
            b->ids_restore[(size_t)n * L + s[k]] = k;
            b->mask[(size_t)n * L + s[k]] = k < len_keep ? 0.0f : 1.0f;
        }
    }
}

void edm_prepare(EdmBatch *b, const ModelConfig *cfg, int N, const float *x, const float *labels,
                 const double *rnd_normal, const float *noise, const int32_t *ids_shuffle, int len_keep,
                 ModelInput *in, LossInput *li) {
    if (N > b->max_batch) FATAL("edm_prepare: batch %d exceeds the planned %d", N, b->max_batch);
    int C = cfg->in_channels, H = cfg->input_size, p = cfg->patch_size, L = b->L, P = b->P;
    size_t per = (size_t)C * H * H;
    int masked = len_keep < L;
    b->N = N;
    b->len_keep = len_keep;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        double sigma = exp(rnd_normal[n] * cfg->P_std + cfg->P_mean);
        EdmCoeffs k = edm_coeffs(sigma, cfg->sigma_data);
        b->sigma[n] = sigma;
        b->c_noise[n] = k.c_noise;
        b->c_skip[n] = (float)k.c_skip;
        b->c_out[n] = (float)k.c_out;
        b->weight[n] = (float)edm_weight(sigma, cfg->sigma_data);
        for (size_t i = n * per; i < (n + 1) * per; i++) {
            double xn = (double)x[i] + (double)noise[i] * sigma;
            b->x_noisy[i] = (float)xn;
            b->xin[i] = (float)(k.c_in * xn);
        }
    }
    patchify_cab(b->patches, b->xin, N, C, H, p);
    patchify_abc(b->x_tok, x, N, C, H, p);
    patchify_abc(b->xn_tok, b->x_noisy, N, C, H, p);
    if (masked) {
        mask_from_shuffle(b, ids_shuffle, N, L, len_keep);
        normalise_patches(b->mae_target, b->xn_tok, (size_t)N * L, P, cfg->norm_pix_eps);
    }
    *in = (ModelInput){.N = N, .len_keep = len_keep, .patches = b->patches, .c_noise = b->c_noise, .labels = labels,
                       .ids_keep = masked ? b->ids_keep : NULL, .ids_restore = masked ? b->ids_restore : NULL};
    *li = (LossInput){.x_tok = b->x_tok, .xn_tok = b->xn_tok, .mae_target = masked ? b->mae_target : NULL,
                      .mask = masked ? b->mask : NULL, .c_skip = b->c_skip, .c_out = b->c_out, .weight = b->weight,
                      .mae_coef = (float)cfg->mae_loss_coef};
}

/* Stable argsort of u (ties keep the index order, as the values are continuous this is only for
 * determinism). Insertion into a sorted run is fine for the token counts of DiT (<= 1024). */
void mask_from_uniforms(int32_t *ids_shuffle, const double *u, int N, int L) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int32_t *ids = ids_shuffle + (size_t)n * L;
        const double *v = u + (size_t)n * L;
        for (int l = 0; l < L; l++) {
            int k = l;
            while (k > 0 && v[ids[k - 1]] > v[l]) {
                ids[k] = ids[k - 1];
                k--;
            }
            ids[k] = l;
        }
    }
}

void edm_denoise(Model *m, EdmBatch *b, const double *x, int N, double sigma, const float *labels,
                 double cfg_scale, double *D_out) {
    const ModelConfig *cfg = &m->cfg;
    int C = cfg->in_channels, H = cfg->input_size, p = cfg->patch_size, K = cfg->num_classes, L = b->L;
    int guided = K > 0 && labels && cfg_scale > 0 && cfg_scale != 1.0;
    int Nb = guided ? 2 * N : N;
    if (Nb > b->max_batch || Nb > m->max_batch)
        FATAL("edm_denoise: %d images (%s) exceed the planned batch %d", Nb, guided ? "2N with guidance" : "N",
              MIN(b->max_batch, m->max_batch));
    size_t per = (size_t)C * H * H;
    EdmCoeffs k = edm_coeffs(sigma, cfg->sigma_data);
    for (size_t i = 0; i < (size_t)N * per; i++) b->xin[i] = (float)(k.c_in * x[i]);
    if (guided) memcpy(b->xin + N * per, b->xin, N * per * sizeof(float));
    patchify_cab(b->patches, b->xin, Nb, C, H, p);
    for (int n = 0; n < Nb; n++) b->c_noise[n] = k.c_noise;
    const float *lab = NULL;
    if (K) {
        if (labels) memcpy(b->labels, labels, (size_t)N * K * sizeof(float));
        else memset(b->labels, 0, (size_t)N * K * sizeof(float));
        if (guided) memset(b->labels + (size_t)N * K, 0, (size_t)N * K * sizeof(float));
        lab = b->labels;
    }
    ModelInput in = {.N = Nb, .len_keep = L, .patches = b->patches, .c_noise = b->c_noise, .labels = lab};
    model_forward(m, &in);
    model_final_out_to_host(m, b->final_host);
    unpatchify_abc(b->F, b->final_host, Nb, C, H, p);
    for (size_t i = 0; i < (size_t)N * per; i++) {
        double F = guided ? b->F[N * per + i] + cfg_scale * (b->F[i] - b->F[N * per + i]) : b->F[i];
        D_out[i] = k.c_skip * x[i] + k.c_out * F;
    }
}
