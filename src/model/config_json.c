#include "config_json.h"

#include <math.h>
#include <string.h>

#include "../util/numtext.h"

/* Doubles in their shortest exact form, so that reading them back gives the same value. */
static void put_double(char *buf, size_t len, const char *name, double v, int last) {
    char num[40];
    if (isinf(v)) snprintf(num, sizeof num, "\"%sinf\"", v < 0 ? "-" : "");
    else format_py_float(v, num, sizeof num);
    text_append(buf, len, "\"%s\": %s%s", name, num, last ? "" : ", ");
}

static void put_int(char *buf, size_t len, const char *name, int v) { text_append(buf, len, "\"%s\": %d, ", name, v); }

char *model_config_to_json(const ModelConfig *c) {
    size_t len = 2048;
    char *buf = xmalloc(len, "model config JSON");
    snprintf(buf, len, "{");
    put_int(buf, len, "input_size", c->input_size);
    put_int(buf, len, "patch_size", c->patch_size);
    put_int(buf, len, "in_channels", c->in_channels);
    put_int(buf, len, "hidden_size", c->hidden_size);
    put_int(buf, len, "depth", c->depth);
    put_int(buf, len, "num_heads", c->num_heads);
    put_double(buf, len, "mlp_ratio", c->mlp_ratio, 0);
    put_int(buf, len, "num_classes", c->num_classes);
    text_append(buf, len, "\"use_decoder\": %s, ", c->use_decoder ? "true" : "false");
    put_int(buf, len, "decoder_hidden_size", c->decoder_hidden_size);
    put_int(buf, len, "decoder_depth", c->decoder_depth);
    put_int(buf, len, "decoder_num_heads", c->decoder_num_heads);
    put_double(buf, len, "mae_loss_coef", c->mae_loss_coef, 0);
    put_double(buf, len, "sigma_data", c->sigma_data, 0);
    put_double(buf, len, "sigma_min", c->sigma_min, 0);
    put_double(buf, len, "sigma_max", c->sigma_max, 0);
    put_double(buf, len, "P_mean", c->P_mean, 0);
    put_double(buf, len, "P_std", c->P_std, 0);
    put_int(buf, len, "frequency_embedding_size", c->frequency_embedding_size);
    put_int(buf, len, "max_period", c->max_period);
    put_double(buf, len, "norm_eps", c->norm_eps, 0);
    put_double(buf, len, "norm_pix_eps", c->norm_pix_eps, 1);
    text_append(buf, len, "}");
    return buf;
}
