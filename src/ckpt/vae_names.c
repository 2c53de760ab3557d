#include "vae_names.h"

#include <string.h>

#define LDM_PREFIX "first_stage_model."

/* Every ldm name of the autoencoder: '#' is a number, {a,b} one of the words. */
static const char *const LDM_NAMES[] = {
    "{encoder,decoder}.{conv_in,norm_out,conv_out}.{weight,bias}",
    "encoder.down.#.block.#.{norm1,conv1,norm2,conv2,nin_shortcut}.{weight,bias}",
    "encoder.down.#.downsample.conv.{weight,bias}",
    "decoder.up.#.block.#.{norm1,conv1,norm2,conv2,nin_shortcut}.{weight,bias}",
    "decoder.up.#.upsample.conv.{weight,bias}",
    "{encoder,decoder}.mid.{block_1,block_2}.{norm1,conv1,norm2,conv2,nin_shortcut}.{weight,bias}",
    "{encoder,decoder}.mid.attn_1.{norm,q,k,v,proj_out}.{weight,bias}",
    "{quant_conv,post_quant_conv}.{weight,bias}",
};

/* diffusers' single-word names and their ldm counterparts. */
static const char *const RENAMES[][2] = {
    {"conv_shortcut", "nin_shortcut"}, {"group_norm", "norm"}, {"conv_norm_out", "norm_out"},
    {"to_q", "q"}, {"to_k", "k"}, {"to_v", "v"}, {"query", "q"}, {"key", "k"}, {"value", "v"},
    {"proj_attn", "proj_out"},
};

static int is_number(const char *s) { return *s && strspn(s, "0123456789") == strlen(s) && strlen(s) < 9; }

static int segment_matches(const char *p, size_t pl, const char *s, size_t sl) {
    if (pl == 1 && *p == '#') return sl > 0 && strspn(s, "0123456789") >= sl;
    if (*p != '{') return pl == sl && memcmp(p, s, sl) == 0;
    for (const char *a = p + 1; a < p + pl;) {
        size_t al = strcspn(a, ",}");
        if (al == sl && memcmp(a, s, sl) == 0) return 1;
        a += al + 1;
    }
    return 0;
}

static int is_ldm_name(const char *name) {
    for (size_t k = 0; k < ARRAY_LEN(LDM_NAMES); k++) {
        const char *p = LDM_NAMES[k], *s = name;
        for (;;) {
            size_t pl = strcspn(p, "."), sl = strcspn(s, ".");
            if (!segment_matches(p, pl, s, sl)) break;
            if (!p[pl] || !s[sl]) {
                if (!p[pl] && !s[sl]) return 1;
                break;
            }
            p += pl + 1;
            s += sl + 1;
        }
    }
    return 0;
}

/* The name inside the file's autoencoder, or NULL for another model's tensor. */
static const char *vae_part(const char *name, int prefixed) {
    if (prefixed) {
        if (strncmp(name, LDM_PREFIX, strlen(LDM_PREFIX)) != 0) return NULL;
        name += strlen(LDM_PREFIX);
    }
    size_t first = strcspn(name, ".");
    static const char *const tops[] = {"encoder", "decoder", "quant_conv", "post_quant_conv"};
    for (size_t k = 0; k < ARRAY_LEN(tops); k++)
        if (strlen(tops[k]) == first && strncmp(name, tops[k], first) == 0) return name;
    return NULL;
}

/* diffusers' up_blocks count: one more than the highest index. */
static long up_block_count(const char *const *names, int n, int prefixed) {
    const char *key = "decoder.up_blocks.";
    long count = 0;
    for (int i = 0; i < n; i++) {
        const char *s = vae_part(names[i], prefixed);
        if (s && strncmp(s, key, strlen(key)) == 0) count = MAX(count, strtol(s + strlen(key), NULL, 10) + 1);
    }
    return count;
}

/* Rewrite the diffusers words of name into ldm ones (ldm names pass unchanged). */
static char *to_ldm(const char *name, long n_up, int *changed) {
    char *copy = xstrdup(name);
    size_t n = 1, len = strlen(name), cap = 2 * len + 32;
    for (const char *c = name; *c; c++) n += *c == '.';
    char **seg = xmalloc(n * sizeof *seg, "name segments");
    seg[0] = copy;
    for (size_t i = 1, k = 0; k < len; k++)
        if (copy[k] == '.') {
            copy[k] = 0;
            seg[i++] = copy + k + 1;
        }
    char *out = xmalloc(cap, "ldm name");
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = seg[i], *next = i + 1 < n ? seg[i + 1] : "", *after = i + 2 < n ? seg[i + 2] : "";
        const char *sep = out[0] ? "." : "";
        int renamed = 1;
        if (strcmp(s, "down_blocks") == 0 && is_number(next)) {
            text_append(out, cap, "%sdown.%s", sep, next);
            i++;
        } else if (strcmp(s, "up_blocks") == 0 && is_number(next) && atol(next) < n_up) {
            text_append(out, cap, "%sup.%ld", sep, n_up - 1 - atol(next));
            i++;
        } else if (strcmp(s, "mid_block") == 0 && strcmp(next, "resnets") == 0 && is_number(after)) {
            text_append(out, cap, "%smid.block_%ld", sep, atol(after) + 1);
            i += 2;
        } else if (strcmp(s, "mid_block") == 0 && strcmp(next, "attentions") == 0 && strcmp(after, "0") == 0) {
            text_append(out, cap, "%smid.attn_1", sep);
            i += 2;
        } else if (strcmp(s, "resnets") == 0) {
            text_append(out, cap, "%sblock", sep);
        } else if ((strcmp(s, "downsamplers") == 0 || strcmp(s, "upsamplers") == 0) && strcmp(next, "0") == 0) {
            text_append(out, cap, "%s%s", sep, s[0] == 'd' ? "downsample" : "upsample");
            i++;
        } else if (strcmp(s, "to_out") == 0 && strcmp(next, "0") == 0) {
            text_append(out, cap, "%sproj_out", sep);
            i++;
        } else {
            const char *word = s;
            for (size_t k = 0; k < ARRAY_LEN(RENAMES); k++)
                if (strcmp(s, RENAMES[k][0]) == 0) word = RENAMES[k][1];
            text_append(out, cap, "%s%s", sep, word);
            renamed = word != s;
        }
        *changed |= renamed;
    }
    free(seg);
    free(copy);
    return out;
}

int vae_map_names(const char *const *names, int n, const char *path, char **out, int *diffusers, Error *e) {
    int prefixed = 0, found = 0;
    for (int i = 0; i < n; i++) prefixed |= strncmp(names[i], LDM_PREFIX, strlen(LDM_PREFIX)) == 0;
    long n_up = up_block_count(names, n, prefixed);
    *diffusers = 0;
    for (int i = 0; i < n; i++) out[i] = NULL;
    for (int i = 0; i < n; i++) {
        const char *s = vae_part(names[i], prefixed);
        if (!s) continue;
        out[i] = to_ldm(s, n_up, diffusers);
        found++;
        if (!is_ldm_name(out[i])) {
            error_set(e, "%s: tensor %s is not a tensor of the autoencoder in the ldm or the diffusers layout%s%s%s",
                      path, names[i], strcmp(out[i], s) ? " (read as " : "", strcmp(out[i], s) ? out[i] : "",
                      strcmp(out[i], s) ? ")" : "");
            goto fail;
        }
        for (int k = 0; k < i; k++)
            if (out[k] && strcmp(out[k], out[i]) == 0) {
                error_set(e, "%s: tensors %s and %s are both the autoencoder's %s", path, names[k], names[i], out[i]);
                goto fail;
            }
    }
    if (found) return 0;
    error_set(e, "%s: no tensor of the autoencoder (names starting with encoder., decoder., quant_conv. or "
                 "post_quant_conv., possibly after first_stage_model.); the file's first tensor is %s",
              path, n ? names[0] : "(none: the file holds no tensors)");
fail:
    for (int i = 0; i < n; i++) {
        free(out[i]);
        out[i] = NULL;
    }
    return -1;
}

void vae_ldm_shape(const char *ldm_name, TensorMeta *meta) {
    static const char *const matrices[] = {".mid.attn_1.q.weight", ".mid.attn_1.k.weight", ".mid.attn_1.v.weight",
                                           ".mid.attn_1.proj_out.weight"};
    if (meta->ndim != 2) return;
    size_t len = strlen(ldm_name);
    for (size_t k = 0; k < ARRAY_LEN(matrices); k++) {
        size_t ml = strlen(matrices[k]);
        if (len >= ml && strcmp(ldm_name + len - ml, matrices[k]) == 0) {
            meta->shape[2] = meta->shape[3] = 1;
            meta->ndim = 4;
            return;
        }
    }
}
