#include "infer_config.h"

#include <math.h>
#include <string.h>

int dit_default_heads(int width) {
    static const int table[][2] = {{1152, 16}, {1024, 16}, {1280, 16}, {768, 12}, {384, 6}, {512, 16}};
    for (size_t i = 0; i < ARRAY_LEN(table); i++)
        if (table[i][0] == width) return table[i][1];
    return 0;
}

static const TensorMeta *find(TensorMeta *const *list, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(list[i]->name, name) == 0) return list[i];
    return NULL;
}

static int count_blocks(TensorMeta *const *list, int n, const char *prefix) {
    char name[128];
    int k = 0;
    for (;; k++) {
        snprintf(name, sizeof name, "model.%s.%d.attn.qkv.weight", prefix, k);
        if (!find(list, n, name)) return k;
    }
}

static int needs(const TensorMeta *m, const char *name, int ndim, Error *e) {
    if (!m) return error_set(e, "cannot infer the model configuration: tensor %s is missing", name);
    if (m->ndim != ndim) return error_set(e, "cannot infer the model configuration: %s has %d dimensions, expected %d",
                                          name, m->ndim, ndim);
    return 0;
}

int infer_model_config(TensorMeta *const *list, int n, ModelConfig *c, Error *e) {
    *c = model_config_default();
    const char *xw_name = "model.x_embedder.proj.weight", *pos_name = "model.pos_embed";
    const char *t0_name = "model.t_embedder.mlp.0.weight", *final_name = "model.final_layer.linear.weight";
    const TensorMeta *xw = find(list, n, xw_name), *pos = find(list, n, pos_name);
    const TensorMeta *t0 = find(list, n, t0_name), *final = find(list, n, final_name);
    if (needs(xw, xw_name, 4, e) < 0 || needs(pos, pos_name, 3, e) < 0 || needs(t0, t0_name, 2, e) < 0 ||
        needs(final, final_name, 2, e) < 0)
        return -1;
    c->hidden_size = (int)xw->shape[0];
    c->in_channels = (int)xw->shape[1];
    c->patch_size = (int)xw->shape[2];
    int grid = (int)lround(sqrt((double)pos->shape[1]));
    if (xw->shape[2] != xw->shape[3] || (int64_t)grid * grid != pos->shape[1])
        return error_set(e, "cannot infer the model configuration: %s (%lld tokens) is not a square grid of "
                            "square patches", pos_name, (long long)pos->shape[1]);
    c->input_size = grid * c->patch_size;
    c->frequency_embedding_size = (int)t0->shape[1];
    c->depth = count_blocks(list, n, "blocks");
    const TensorMeta *fc1 = find(list, n, c->depth ? "model.blocks.0.mlp.fc1.weight" : "");
    if (fc1) c->mlp_ratio = (double)fc1->shape[0] / (double)c->hidden_size;
    const TensorMeta *y = find(list, n, "model.y_embedder.embedding_table.weight");
    c->num_classes = y && y->ndim == 2 ? (int)y->shape[1] : 0;
    const TensorMeta *dec = find(list, n, "model.decoder_layer.linear.weight");
    c->use_decoder = dec != NULL;
    if (dec) {
        c->decoder_hidden_size = (int)dec->shape[0];
        c->decoder_depth = count_blocks(list, n, "decoder_blocks");
        if (!find(list, n, "model.mask_token")) c->mae_loss_coef = 0;
    } else {
        c->decoder_depth = 0;
    }
    int per_patch = c->patch_size * c->patch_size * c->in_channels;
    if (final->shape[0] != per_patch)
        return error_set(e, "%s gives %lld values per patch, expected %d (patch %d x %d x %d channels): models "
                            "with learned sigma or other output channels are not supported", final_name,
                         (long long)final->shape[0], per_patch, c->patch_size, c->patch_size, c->in_channels);
    c->num_heads = dit_default_heads(c->hidden_size);
    c->decoder_num_heads = c->use_decoder ? dit_default_heads(c->decoder_hidden_size) : c->decoder_num_heads;
    return 0;
}
