#include "vae_run.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "../mpi/collect.h"
#include "../src/sample/latents_file.h"
#include "../src/sample/work.h"
#include "../src/util/dirlock.h"
#include "../src/util/fileio.h"
#include "../src/util/h5rows.h"
#include "../src/util/h5util.h"
#include "../src/util/images.h"
#include "../src/util/png.h"
#include "../src/util/progress.h"
#include "../src/vae/vae.h"

#define PROGRESS_LOG_INTERVAL 10.0

/* The input file: dataset `name` [count, C, H, W] and the seeds and labels beside it, if any. */
typedef struct {
    hid_t file;
    const char *path, *name;
    long long count;
    int C, H, W;
    long long *seeds, *labels;   /* NULL when absent */
} Input;

static void open_input(Input *in, const char *path, const char *name, const char *expected) {
    Error e;
    memset(in, 0, sizeof *in);
    in->path = path, in->name = name;
    h5_quiet();
    if ((in->file = h5_open_read(path, &e)) < 0) die("%s", e.msg);
    hsize_t dims[H5_MAX_DIMS];
    int rank = h5_dataset_shape(in->file, path, name, dims, &e);
    if (rank < 0) die("%s (expected dataset %s: %s)", e.msg, name, expected);
    if (rank != 4) die("%s: dataset %s has %d dimensions, expected 4: %s", path, name, rank, expected);
    in->count = (long long)dims[0];
    in->C = (int)dims[1], in->H = (int)dims[2], in->W = (int)dims[3];
    for (int k = 0; k < 2; k++) {
        const char *ds = k ? "labels" : "seeds";
        long long **dst = k ? &in->labels : &in->seeds;
        if (!h5_exists(in->file, ds)) continue;
        if (h5_read_all(in->file, path, ds, H5T_NATIVE_LLONG, sizeof(long long), in->count, (void **)dst, NULL, &e))
            die("%s", e.msg);
    }
}

static void close_input(Input *in) {
    H5Fclose(in->file);
    free(in->seeds);
    free(in->labels);
}

/* Refuses an output that is the input or the weights: it would be destroyed while read. */
static void check_outputs(const VaeRunArgs *a) {
    const char *outs[][2] = {{a->out, "--out"}, {a->npz, "--npz"}};
    for (int i = 0; i < 2; i++) {
        Error e;
        if (outs[i][0] && (check_not_input(outs[i][0], a->in, "the input (--in)", &e) < 0 ||
                           check_not_input(outs[i][0], a->vae, "the VAE's weights", &e) < 0))
            die("%s: %s", outs[i][1], e.msg);
    }
}

static Vae *load_vae(const Dist *d, const VaeRunArgs *a, Backend **be) {
    *be = backend_create(a->device, d->local_rank, a->precision, 0, 0);
    Error e;
    Vae *v = vae_load(a->vae, *be, &e);
    if (!v) die("%s", e.msg);
    char desc[256];
    vae_describe(v, desc, sizeof desc);
    info("VAE %s (%s, %s layout): %s, %.1fM parameters, on %s", vae_path(v), vae_format(v), vae_layout(v), desc,
         vae_parameter_count(v) / 1e6, (*be)->device_name(*be));
    return v;
}

/* A run of rows through the VAE, batch by batch, with a progress line. */
typedef struct {
    const Dist *d;
    Progress line;
    long long total;
    const char *verb;
} RowLoop;

static void loop_progress(RowLoop *l, long long done_local, int final) {
    /* every rank moves at about the same pace: rank 0's count times the ranks */
    double done = (double)MIN(l->total, done_local * l->d->world), t = progress_elapsed(&l->line);
    double rate = t > 0 ? done / t : 0;
    char bar[PROGRESS_BAR_WIDTH + 1], eta[32];
    progress_bar(l->total ? done / (double)l->total : 1.0, bar);
    progress_eta((double)l->total - done, rate, eta, sizeof eta);
    progress_print(&l->line, final, "%s [%s] %s%.0f/%lld images  %.2f images/s  ETA %s", l->verb, bar,
                   l->d->world > 1 && !final ? "~" : "", final ? (double)l->total : done, l->total, rate, eta);
}

static double scale_factor(const VaeRunArgs *a, const Vae *v, const Input *in, const char **from) {
    double s;
    if (a->scale_factor > 0) return *from = "--scale_factor", a->scale_factor;
    if (vae_scaling_factor(v, &s)) return *from = "the VAE's config.json scaling_factor", s;
    Error e;
    if (H5Aexists_by_name(in->file, "/", "scale_factor", H5P_DEFAULT) > 0 &&
        h5_attr_double(in->file, in->path, "/", "scale_factor", &s, &e) == 0 && s > 0)
        return *from = "the latents file's scale_factor attribute", s;
    return *from = "the Stable Diffusion default", LATENT_SCALE_FACTOR;
}

static void check_finite(const Input *in, const float *x, long long first, int n, size_t row) {
    for (int k = 0; k < n; k++)
        for (size_t q = 0; q < row; q++)
            if (!isfinite(x[(size_t)k * row + q])) {
                char seed[48] = "";
                if (in->seeds) xsnprintf(seed, sizeof seed, " (seed %lld)", in->seeds[first + k]);
                die("%s: %s row %lld%s holds NaN or Inf: nothing to decode", in->path, in->name, first + k, seed);
            }
}

/* Rank 0 writes dataset `name` [count, C, H, W] from every rank's rows, the seeds and labels of
 * the input beside it. */
static void write_rows_file(const Dist *d, const char *path, const char *name, const Input *in, const int row[3],
                            const float *local, long long n_local, const VaeRunArgs *a, double scale) {
    H5Rows f;
    Error e = {{0}};
    if (d->rank == 0) {
        if (h5rows_create(&f, path, name, in->count, row, &e) ||
            (in->seeds && h5rows_write_ints(&f, "seeds", in->seeds, in->count, &e)) ||
            (in->labels && h5rows_write_ints(&f, "labels", in->labels, in->count, &e)))
            die("%s", e.msg);
        if (h5_write_attr_string(f.file, "vae", a->vae) || h5_write_attr_string(f.file, "source", in->path) ||
            (scale > 0 && h5_write_attr_double(f.file, "scale_factor", scale)))
            die("%s: cannot write the attributes (disk full?)", path);
    }
    if (collect_to_root(d, local, n_local, (size_t)row[0] * row[1] * row[2] * sizeof(float), h5rows_sink, &f, &e)) {
        if (d->rank == 0) h5rows_abort(&f);
        die("%s", e.msg);
    }
    if (d->rank == 0) {
        if (h5rows_close(&f, &e)) die("%s", e.msg);
        info("wrote %s (%s %lldx%dx%dx%d float32)", path, name, in->count, row[0], row[1], row[2]);
    }
}

int vae_run_decode(const Dist *d, const VaeRunArgs *a) {
    if (!a->out && !a->png_dir && !a->npz) die("maskdit-vae decode: nothing to write: give --out, --png or --npz");
    check_outputs(a);
    Backend *be;
    Vae *v = load_vae(d, a, &be);
    const VaeConfig *g = vae_config(v);
    char expected[160];
    xsnprintf(expected, sizeof expected, "[N, %d, h, w] latents of this VAE (z_channels %d)", g->z_channels,
              g->z_channels);
    Input in;
    open_input(&in, a->in, "latents", expected);
    if (in.C != g->z_channels)
        die("%s: dataset latents has %d channels, expected %s", a->in, in.C, expected);
    const char *from;
    const double scale = scale_factor(a, v, &in, &from);
    const int H = in.H * g->factor, W = in.W * g->factor, C = g->in_channels;
    const size_t lat_row = (size_t)in.C * in.H * in.W, img_row = (size_t)C * H * W;
    info("decoding %lld latents %dx%dx%d into %dx%d images (latents / %g, the scale factor of %s)", in.count, in.C,
         in.H, in.W, H, W, scale, from);

    long long begin, end;
    sample_rank_share(in.count, a->batch, d->rank, d->world, &begin, &end);
    const long long n_local = end - begin;
    float *images = a->out ? xmalloc((size_t)MAX(n_local, 1LL) * img_row * sizeof(float), "decoded images") : NULL;
    uint8_t *bytes = a->npz ? xmalloc((size_t)MAX(n_local, 1LL) * img_row, "decoded images as bytes") : NULL;
    float *lat = xmalloc((size_t)a->batch * lat_row * sizeof(float), "latents batch");
    float *img = xmalloc((size_t)a->batch * img_row * sizeof(float), "images batch");
    double *one = xmalloc(img_row * sizeof(double), "image");
    uint8_t *png = xmalloc(img_row, "PNG image");
    Error e;
    if (a->png_dir && (make_dirs(a->png_dir, &e) ||
                       (d->rank == 0 && dir_lock(a->png_dir, "maskdit-vae decode", "give this one another --png", &e))))
        die("--png: %s", e.msg);
    dist_barrier(d);   /* the lock is taken before any rank writes */
    RowLoop loop = {.d = d, .total = in.count, .verb = "decoding"};
    progress_start(&loop.line, 1, PROGRESS_LOG_INTERVAL);
    for (long long i = begin; i < end; i += a->batch) {
        const int n = (int)MIN((long long)a->batch, end - i);
        if (h5_read_rows(in.file, in.path, "latents", i, n, lat_row, lat, &e)) die("%s", e.msg);
        check_finite(&in, lat, i, n, lat_row);
        for (size_t q = 0; q < (size_t)n * lat_row; q++) lat[q] = (float)(lat[q] / scale);
        vae_decode(v, img, lat, n, in.H, in.W);
        for (int k = 0; k < n; k++) {
            const float *x = img + (size_t)k * img_row;
            if (images) memcpy(images + (size_t)(i - begin + k) * img_row, x, img_row * sizeof(float));
            if (!bytes && !a->png_dir) continue;
            for (size_t q = 0; q < img_row; q++) one[q] = x[q];
            uint8_t *u8 = bytes ? bytes + (size_t)(i - begin + k) * img_row : png;
            image_to_u8(u8, one, C, H, W);
            if (!a->png_dir) continue;
            char path[4200];
            xsnprintf(path, sizeof path, "%s/%06lld.png", a->png_dir, in.seeds ? in.seeds[i + k] : i + k);
            if (png_write(path, u8, W, H, C, &e)) die("%s", e.msg);
        }
        if (progress_due(&loop.line)) loop_progress(&loop, i + n - begin, 0);
    }
    loop_progress(&loop, n_local, 1);
    progress_end(&loop.line);
    if (a->png_dir) info("wrote %lld PNG images into %s", in.count, a->png_dir);
    const int row[3] = {C, H, W};
    if (a->out) write_rows_file(d, a->out, "images", &in, row, images, n_local, a, 0);
    if (a->npz) {
        const long long shape[4] = {in.count, H, W, C};
        collect_npz(d, bytes, n_local, "|u1", 1, shape, a->npz);
    }
    free(images), free(bytes), free(lat), free(img), free(one), free(png);
    close_input(&in);
    vae_free(v);
    be->destroy(be);
    return 0;
}

int vae_run_encode(const Dist *d, const VaeRunArgs *a) {
    if (!a->out) die("maskdit-vae encode: --out is required");
    check_outputs(a);
    Backend *be;
    Vae *v = load_vae(d, a, &be);
    const VaeConfig *g = vae_config(v);
    char expected[200];
    xsnprintf(expected, sizeof expected, "[N, %d, H, W] float32 images in [-1, 1], H and W multiples of %d",
              g->in_channels, g->factor);
    Input in;
    open_input(&in, a->in, "images", expected);
    if (in.C != g->in_channels || in.H % g->factor || in.W % g->factor || in.H == 0 || in.W == 0)
        die("%s: dataset images is [%lld, %d, %d, %d], expected %s", a->in, in.count, in.C, in.H, in.W, expected);
    const int h = in.H / g->factor, w = in.W / g->factor, M = 2 * g->z_channels;
    const size_t img_row = (size_t)in.C * in.H * in.W, mom_row = (size_t)M * h * w;
    info("encoding %lld images %dx%d into moments %dx%dx%d", in.count, in.H, in.W, M, h, w);
    long long begin, end;
    sample_rank_share(in.count, a->batch, d->rank, d->world, &begin, &end);
    const long long n_local = end - begin;
    float *moments = xmalloc((size_t)MAX(n_local, 1LL) * mom_row * sizeof(float), "moments");
    float *img = xmalloc((size_t)a->batch * img_row * sizeof(float), "images batch");
    Error e;
    RowLoop loop = {.d = d, .total = in.count, .verb = "encoding"};
    progress_start(&loop.line, 1, PROGRESS_LOG_INTERVAL);
    for (long long i = begin; i < end; i += a->batch) {
        const int n = (int)MIN((long long)a->batch, end - i);
        if (h5_read_rows(in.file, in.path, "images", i, n, img_row, img, &e)) die("%s", e.msg);
        check_finite(&in, img, i, n, img_row);
        vae_encode(v, moments + (size_t)(i - begin) * mom_row, img, n, in.H, in.W);
        if (progress_due(&loop.line)) loop_progress(&loop, i + n - begin, 0);
    }
    loop_progress(&loop, n_local, 1);
    progress_end(&loop.line);
    const int row[3] = {M, h, w};
    write_rows_file(d, a->out, "moments", &in, row, moments, n_local, a, 0);
    free(moments), free(img);
    close_input(&in);
    vae_free(v);
    be->destroy(be);
    return 0;
}

int vae_run_info(const char *path) {
    Backend *be = backend_cpu_create(1);
    Error e;
    Vae *v = vae_load(path, be, &e);
    if (!v) die("%s", e.msg);
    const VaeConfig *g = vae_config(v);
    char desc[256];
    vae_describe(v, desc, sizeof desc);
    double s;
    char scale[64] = "not given (0.18215 unless the latents file says otherwise)";
    if (vae_scaling_factor(v, &s)) xsnprintf(scale, sizeof scale, "%g (config.json)", s);
    printf("file:          %s\nformat:        %s\nlayout:        %s\narchitecture:  %s\n"
           "parameters:    %zu (%.1fM)\nimages:        %d channels, spatial factor %d\nscale factor:  %s\n",
           vae_path(v), vae_format(v), vae_layout(v), desc, vae_parameter_count(v), vae_parameter_count(v) / 1e6,
           g->in_channels, g->factor, scale);
    vae_free(v);
    be->destroy(be);
    return 0;
}
