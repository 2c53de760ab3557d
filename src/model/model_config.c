#include "model_config.h"

#include <limits.h>
#include <math.h>
#include <string.h>

ModelConfig model_config_default(void) {
    ModelConfig c = {
        .input_size = 32, .patch_size = 2, .in_channels = 4, .hidden_size = 1152, .depth = 28,
        .num_heads = 16, .mlp_ratio = 4.0, .num_classes = 1000, .use_decoder = 1,
        .decoder_hidden_size = 512, .decoder_depth = 8, .decoder_num_heads = 16,
        .mae_loss_coef = 0.1, .sigma_data = 0.5, .sigma_min = 0.0, .sigma_max = INFINITY,
        .P_mean = -1.2, .P_std = 1.2, .frequency_embedding_size = 256, .max_period = 10000,
        .norm_eps = 1e-6, .norm_pix_eps = 1e-6,
    };
    return c;
}

/* (depth, hidden, heads) of the original families; the patch size comes from the suffix. */
static const struct {
    const char *family;
    int depth, hidden, heads;
} FAMILIES[] = {
    {"DiT-H", 32, 1280, 16}, {"DiT-XL", 28, 1152, 16}, {"DiT-L", 24, 1024, 16},
    {"DiT-B", 12, 768, 12},  {"DiT-S", 12, 384, 6},
};

int model_config_apply_type(ModelConfig *c, const char *model_type, Error *e) {
    for (size_t i = 0; i < ARRAY_LEN(FAMILIES); i++) {
        size_t n = strlen(FAMILIES[i].family);
        if (strncmp(model_type, FAMILIES[i].family, n) != 0 || model_type[n] != '/') continue;
        const char *p = model_type + n + 1;
        if (strcmp(p, "2") && strcmp(p, "4") && strcmp(p, "8")) break;
        c->depth = FAMILIES[i].depth;
        c->hidden_size = FAMILIES[i].hidden;
        c->num_heads = FAMILIES[i].heads;
        c->patch_size = p[0] - '0';
        return 0;
    }
    return error_set(e, "unknown model_type '%s' (expected one of DiT-S/2, DiT-S/4, DiT-S/8, DiT-B/2, "
                        "DiT-B/4, DiT-B/8, DiT-L/2, DiT-L/4, DiT-L/8, DiT-XL/2, DiT-XL/4, DiT-XL/8, "
                        "DiT-H/2, DiT-H/4, DiT-H/8)", model_type);
}

int model_config_validate(const ModelConfig *c, Error *e) {
    if (c->patch_size < 1 || c->input_size < c->patch_size || c->input_size % c->patch_size)
        return error_set(e, "input_size %d must be a positive multiple of patch_size %d", c->input_size,
                         c->patch_size);
    if (c->in_channels < 1) return error_set(e, "in_channels must be >= 1 (got %d)", c->in_channels);
    if (c->depth < 0) return error_set(e, "depth must be >= 0 (got %d)", c->depth);
    if (c->num_heads < 1 || c->hidden_size < 1 || c->hidden_size % c->num_heads)
        return error_set(e, "hidden_size %d must be a positive multiple of num_heads %d", c->hidden_size,
                         c->num_heads);
    if (c->hidden_size % 4)
        return error_set(e, "hidden_size %d must be a multiple of 4 (2-D sin-cos position embedding)",
                         c->hidden_size);
    if (c->num_classes < 0) return error_set(e, "num_classes must be >= 0 (got %d)", c->num_classes);
    if (c->use_decoder) {
        if (c->decoder_depth < 0) return error_set(e, "decoder_depth must be >= 0 (got %d)", c->decoder_depth);
        if (c->decoder_num_heads < 1 || c->decoder_hidden_size < 1 ||
            c->decoder_hidden_size % c->decoder_num_heads)
            return error_set(e, "decoder_hidden_size %d must be a positive multiple of decoder_num_heads %d",
                             c->decoder_hidden_size, c->decoder_num_heads);
        if (c->decoder_hidden_size % 4)
            return error_set(e, "decoder_hidden_size %d must be a multiple of 4 (2-D sin-cos position "
                                "embedding)", c->decoder_hidden_size);
    }
    /* Every MLP (encoder and decoder blocks) needs a hidden width from 1 to INT_MAX. */
    int widths[2] = {c->hidden_size, c->use_decoder ? c->decoder_hidden_size : c->hidden_size};
    for (int i = 0; i < 2; i++) {
        double mlp = floor(widths[i] * c->mlp_ratio);
        if (!(mlp >= 1 && mlp <= INT_MAX))
            return error_set(e, "mlp_ratio %g gives the blocks of width %d an MLP width of %g (expected 1 to %d)",
                             c->mlp_ratio, widths[i], mlp, INT_MAX);
    }
    if (c->frequency_embedding_size < 2 || c->frequency_embedding_size % 2)
        return error_set(e, "frequency_embedding_size must be even and >= 2 (got %d)",
                         c->frequency_embedding_size);
    if (!(c->sigma_data > 0) || isinf(c->sigma_data))
        return error_set(e, "sigma_data must be a finite number > 0 (got %g)", c->sigma_data);
    if (!isfinite(c->P_mean) || !isfinite(c->P_std))
        return error_set(e, "P_mean and P_std must be finite (got %g and %g)", c->P_mean, c->P_std);
    if (!(c->norm_eps > 0) || !(c->norm_pix_eps > 0))
        return error_set(e, "norm_eps and norm_pix_eps must be > 0 (got %g and %g)", c->norm_eps, c->norm_pix_eps);
    if (!(c->mae_loss_coef >= 0) || isinf(c->mae_loss_coef))
        return error_set(e, "mae_loss_coef must be a finite number >= 0 (got %g)", c->mae_loss_coef);
    return 0;
}

int model_check_mask_ratio(const ModelConfig *c, double mask_ratio, Error *e) {
    int L = model_num_patches(c);
    if (model_len_keep(c, mask_ratio) < 1)
        return error_set(e, "%g keeps none of the model's %d patches (expected at most %g)", mask_ratio, L,
                         1.0 - 1.0 / L);
    return 0;
}

int model_len_keep(const ModelConfig *c, double mask_ratio) {
    return (int)(model_num_patches(c) * (1.0 - mask_ratio));
}

void model_config_describe(const ModelConfig *c, char *buf, size_t len) {
    if (c->use_decoder)
        snprintf(buf, len, "D=%d depth=%d heads=%d p=%d in=%dx%dx%d classes=%d decoder=%d/%d/%d", c->hidden_size,
                 c->depth, c->num_heads, c->patch_size, c->in_channels, c->input_size, c->input_size,
                 c->num_classes, c->decoder_hidden_size, c->decoder_depth, c->decoder_num_heads);
    else
        snprintf(buf, len, "D=%d depth=%d heads=%d p=%d in=%dx%dx%d classes=%d no-decoder", c->hidden_size,
                 c->depth, c->num_heads, c->patch_size, c->in_channels, c->input_size, c->input_size,
                 c->num_classes);
}
