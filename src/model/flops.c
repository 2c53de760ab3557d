#include "flops.h"

typedef struct {
    double fwd, bwd;
} Cost;

static void linear(Cost *k, double M, double K, double N, int input_grad) {
    k->fwd += 2 * M * K * N;
    k->bwd += (input_grad ? 4 : 2) * M * K * N;
}

static void block(Cost *k, double N, double T, double W, double M, double cond) {
    linear(k, N, cond, 6 * W, 1);            /* adaLN */
    linear(k, N * T, W, 3 * W, 1);           /* qkv */
    k->fwd += 4 * N * T * T * W;             /* q k^T and A v over all heads */
    k->bwd += 8 * N * T * T * W;
    linear(k, N * T, W, W, 1);               /* proj */
    linear(k, N * T, W, M, 1);               /* fc1 */
    linear(k, N * T, M, W, 1);               /* fc2 */
}

static Cost step_cost(const ModelConfig *c, int N_, int len_keep_) {
    Cost k = {0, 0};
    double N = N_, L = model_num_patches(c), len_keep = len_keep_, D = c->hidden_size, P = model_patch_dim(c);
    double Df = model_final_width(c);
    linear(&k, N * L, P, D, 0);                                  /* patch embedding */
    linear(&k, N, c->frequency_embedding_size, D, 1);            /* timestep MLP */
    linear(&k, N, D, D, 1);
    if (c->num_classes) linear(&k, N, c->num_classes, D, 1);     /* label embedding */
    for (int i = 0; i < c->depth; i++) block(&k, N, len_keep, D, model_mlp_hidden(c->hidden_size, c->mlp_ratio), D);
    double T_final = len_keep;
    if (c->use_decoder) {
        double Dd = c->decoder_hidden_size;
        linear(&k, N, D, 2 * D, 1);
        linear(&k, N * len_keep, D, Dd, 1);
        for (int i = 0; i < c->decoder_depth; i++)
            block(&k, N, L, Dd, model_mlp_hidden(c->decoder_hidden_size, c->mlp_ratio), D);
        T_final = L;
    }
    linear(&k, N, D, 2 * Df, 1);
    linear(&k, N * T_final, Df, P, 1);
    return k;
}

double model_step_flops(const ModelConfig *c, int N, int len_keep) {
    Cost k = step_cost(c, N, len_keep);
    return k.fwd + k.bwd;
}
