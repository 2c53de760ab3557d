#include "weights.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/fileio.h"
#include "../util/json.h"
#include "pt_import.h"
#include "pt_legacy.h"
#include "safetensors.h"
#include "vae_names.h"

#define DIFFUSERS_WEIGHTS "diffusion_pytorch_model"

typedef struct {
    TensorMeta meta;          /* presented name (owned) and shape */
    const char *file_name;    /* owned by the source */
    int src;                  /* index in the source's list */
} WeightEntry;

struct WeightFile {
    char *path;
    PtFile *pt;
    PtStateDict sd;
    SafeTensors *st;
    const char *layout;
    int has_scale;
    double scale;
    WeightEntry *entries;
    int count;
};

static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n, "path");
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The weight file behind path and, for a diffusers model, its config.json (else NULL). */
static int resolve(const char *path, char **file, char **config, Error *e) {
    struct stat sb;
    *file = *config = NULL;
    if (stat(path, &sb) < 0) return error_set(e, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        static const char *const names[] = {DIFFUSERS_WEIGHTS ".safetensors", DIFFUSERS_WEIGHTS ".fp16.safetensors",
                                            DIFFUSERS_WEIGHTS ".bin", DIFFUSERS_WEIGHTS ".fp16.bin"};
        for (size_t k = 0; k < ARRAY_LEN(names) && !*file; k++) {
            *file = join_path(path, names[k]);
            if (!is_file(*file)) {
                free(*file);
                *file = NULL;
            }
        }
        if (!*file)
            return error_set(e, "%s: a folder without " DIFFUSERS_WEIGHTS ".safetensors (or .fp16.safetensors, .bin, "
                                ".fp16.bin): not a diffusers model folder", path);
        *config = join_path(path, "config.json");
    } else {
        *file = xstrdup(path);
        const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
        if (strncmp(base, DIFFUSERS_WEIGHTS ".", strlen(DIFFUSERS_WEIGHTS) + 1) != 0) return 0;
        char *dir = xstrdup(path);
        if (slash) dir[slash - path] = 0;
        *config = join_path(slash ? dir : ".", "config.json");
        free(dir);
    }
    if (!is_file(*config)) {   /* the weights alone are enough; the config only adds the scale factor */
        free(*config);
        *config = NULL;
    }
    return 0;
}

/* diffusers' "scaling_factor" from config.json (absent or null: unknown). */
static int read_config(WeightFile *w, const char *config, Error *e) {
    size_t len;
    char *text = file_read_all(config, &len, e);
    if (!text) return -1;
    JsonValue *v = json_parse(text, len, config, e);
    free(text);
    if (!v) return -1;
    const JsonValue *s = json_get(v, "scaling_factor");
    int rc = 0;
    if (v->kind != JSON_OBJECT) {
        rc = error_set(e, "%s: not a JSON object (a diffusers model config)", config);
    } else if (s && s->kind == JSON_NUMBER && s->number > 0) {
        w->has_scale = 1;
        w->scale = s->number;
    } else if (s && s->kind != JSON_NULL) {
        rc = error_set(e, "%s: scaling_factor is %s, expected a positive number", config,
                       s->kind == JSON_NUMBER ? "not positive" : json_kind_name(s->kind));
    }
    json_free(v);
    return rc;
}

static void add_entry(WeightFile *w, const TensorMeta *meta, int src) {
    WeightEntry *en = &w->entries[w->count++];
    en->meta = *meta;
    en->meta.name = xstrdup(meta->name);
    en->file_name = meta->name;
    en->src = src;
}

static int open_pt(WeightFile *w, Error *e) {
    if (!(w->pt = pt_open(w->path, e))) return -1;
    const char *section = pt_is_plain(w->pt) ? "model" : "state_dict";
    if (!pt_is_plain(w->pt) && !pt_has_section(w->pt, "state_dict")) {
        char have[512];
        pt_sections_str(w->pt, have, sizeof have);
        return error_set(e, "%s: holds neither a state_dict nor {\"state_dict\": ...} (its top-level keys: %s)",
                         w->path, have);
    }
    if (pt_state_dict(w->pt, section, &w->sd, e) < 0) return -1;
    w->entries = xcalloc((size_t)w->sd.count + 1, sizeof *w->entries, "weight list");
    for (int i = 0; i < w->sd.count; i++) add_entry(w, &w->sd.tensors[i].meta, i);
    return 0;
}

static int open_safetensors(WeightFile *w, Error *e) {
    if (!(w->st = st_open(w->path, e))) return -1;
    w->entries = xcalloc((size_t)w->st->count + 1, sizeof *w->entries, "weight list");
    for (int i = 0; i < w->st->count; i++) add_entry(w, &w->st->tensors[i].meta, i);
    return 0;
}

static int open_by_content(WeightFile *w, Error *e) {
    FILE *fp = fopen(w->path, "rb");
    if (!fp) return error_set(e, "%s: cannot open: %s", w->path, strerror(errno));
    unsigned char head[32] = {0};
    size_t n = fread(head, 1, sizeof head, fp);
    fclose(fp);
    if ((n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0) || pt_legacy_magic(head, n)) return open_pt(w, e);
    if (st_sniff(head, n)) return open_safetensors(w, e);
    return error_set(e, "%s: neither a PyTorch torch.save file (zip or legacy) nor a safetensors file", w->path);
}

WeightFile *weights_open(const char *path, Error *e) {
    char *file, *config;
    if (resolve(path, &file, &config, e) < 0) return NULL;
    WeightFile *w = xcalloc(1, sizeof *w, "weight file");
    w->path = file;
    w->layout = "as stored";
    int rc = open_by_content(w, e);
    if (rc == 0 && config) rc = read_config(w, config, e);
    free(config);
    if (rc < 0) {
        weights_close(w);
        return NULL;
    }
    return w;
}

WeightFile *vae_weights_open(const char *path, Error *e) {
    WeightFile *w = weights_open(path, e);
    if (!w) return NULL;
    const char **names = xmalloc(((size_t)w->count + 1) * sizeof *names, "weight names");
    char **ldm = xmalloc(((size_t)w->count + 1) * sizeof *ldm, "weight names");
    for (int i = 0; i < w->count; i++) names[i] = w->entries[i].file_name;
    int diffusers = 0, rc = vae_map_names(names, w->count, w->path, ldm, &diffusers, e);
    if (rc == 0) {
        int kept = 0;
        for (int i = 0; i < w->count; i++) {
            WeightEntry en = w->entries[i];
            free(en.meta.name);
            if (!ldm[i]) continue;   /* another model's tensor */
            en.meta.name = ldm[i];
            vae_ldm_shape(en.meta.name, &en.meta);
            w->entries[kept++] = en;
        }
        w->count = kept;
        w->layout = diffusers ? "diffusers" : "ldm";
    }
    free(names);
    free(ldm);
    if (rc < 0) {
        weights_close(w);
        return NULL;
    }
    return w;
}

void weights_close(WeightFile *w) {
    if (!w) return;
    for (int i = 0; i < w->count; i++) free(w->entries[i].meta.name);
    free(w->entries);
    pt_state_dict_free(&w->sd);
    pt_close(w->pt);
    st_close(w->st);
    free(w->path);
    free(w);
}

const char *weights_path(const WeightFile *w) { return w->path; }
const char *weights_format(const WeightFile *w) { return w->pt ? pt_format(w->pt) : "safetensors"; }
const char *weights_layout(const WeightFile *w) { return w->layout; }

int weights_scaling_factor(const WeightFile *w, double *out) {
    if (w->has_scale) *out = w->scale;
    return w->has_scale;
}

int weights_count(const WeightFile *w) { return w->count; }
const TensorMeta *weights_meta(const WeightFile *w, int i) { return &w->entries[i].meta; }
const char *weights_file_name(const WeightFile *w, int i) { return w->entries[i].file_name; }

int weights_find(const WeightFile *w, const char *name) {
    for (int i = 0; i < w->count; i++)
        if (strcmp(w->entries[i].meta.name, name) == 0) return i;
    return -1;
}

int weights_read(const WeightFile *w, int i, float *dst, Error *e) {
    const WeightEntry *en = &w->entries[i];
    return w->pt ? pt_read_tensor(w->pt, &w->sd.tensors[en->src], dst, e) : st_read_tensor(w->st, en->src, dst, e);
}
