/* The VAE (src/vae) against the float64 golden of ../shared/golden/vae_tiny.h5: the configuration
 * read from the weights' shapes, both directions in fp32 on the CPU (<= 1e-5 relative to the
 * tensor's max magnitude), from every weight layout, and the refusals of files that are not a
 * KL autoencoder. */
#include <hdf5.h>
#include <string.h>

#include "../../src/util/h5util.h"
#include "../../src/vae/vae.h"
#include "test.h"

#define PARITY_TOL 1e-5

static char golden_dir[4096], golden_h5[4200];
static hid_t F;
static Backend *be;

static double *read_f64(const char *dset, size_t n) {
    Error e;
    double *buf = malloc(n * sizeof *buf);
    if (h5_read_into(F, golden_h5, dset, H5T_NATIVE_DOUBLE, buf, n, &e) < 0) FATAL("%s", e.msg);
    return buf;
}

static float *read_f32(const char *dset, size_t n) {
    Error e;
    float *buf = malloc(n * sizeof *buf);
    if (h5_read_into(F, golden_h5, dset, H5T_NATIVE_FLOAT, buf, n, &e) < 0) FATAL("%s", e.msg);
    return buf;
}

/* max |a - ref| / max |ref| */
static double rel_error(const float *a, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs(a[i] - ref[i]));
        den = fmax(den, fabs(ref[i]));
    }
    return num / den;
}

static Vae *load(const char *name) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", golden_dir, name);
    Error e;
    Vae *v = vae_load(path, be, &e);
    CHECK(v != NULL, "%s: %s", path, e.msg);
    return v;
}

enum { N = 3, IMG = 32, LAT = 8, ZC = 4 };

/* Encode the golden images and decode the golden latents with the weights in file `name`. */
static void check_both_directions(const char *name) {
    Vae *v = load(name);
    if (!v) return;
    const size_t n_img = (size_t)N * 3 * IMG * IMG, n_mom = (size_t)N * 2 * ZC * LAT * LAT;
    const size_t n_lat = (size_t)N * ZC * LAT * LAT;
    float *images = read_f32("images", n_img), *latents = read_f32("latents", n_lat);
    double *moments_ref = read_f64("moments", n_mom), *decoded_ref = read_f64("decoded", n_img), scale;
    Error e;
    if (h5_attr_double(F, golden_h5, "/", "scale_factor", &scale, &e) < 0) FATAL("%s", e.msg);
    float *moments = malloc(n_mom * sizeof *moments), *decoded = malloc(n_img * sizeof *decoded);
    vae_encode(v, moments, images, N, IMG, IMG);
    double err = rel_error(moments, moments_ref, n_mom);
    CHECK(err <= PARITY_TOL, "%s: encoder moments: relative error %.3g", name, err);
    for (size_t i = 0; i < n_lat; i++) latents[i] = (float)(latents[i] / scale);
    vae_decode(v, decoded, latents, N, LAT, LAT);
    err = rel_error(decoded, decoded_ref, n_img);
    CHECK(err <= PARITY_TOL, "%s: decoded images: relative error %.3g", name, err);
    free(images), free(latents), free(moments_ref), free(decoded_ref), free(moments), free(decoded);
    vae_free(v);
}

static void config_read_from_the_weights(void) {
    Vae *v = load("vae_tiny.pth");
    if (!v) return;
    const VaeConfig *g = vae_config(v);
    CHECK(g->ch == 32 && g->levels == 3 && g->ch_mult[0] == 1 && g->ch_mult[1] == 2 && g->ch_mult[2] == 2 &&
              g->num_res_blocks == 2 && g->z_channels == 4 && g->factor == 4 && g->in_channels == 3,
          "ch %d levels %d mult %d,%d,%d blocks %d z %d factor %d", g->ch, g->levels, g->ch_mult[0], g->ch_mult[1],
          g->ch_mult[2], g->num_res_blocks, g->z_channels, g->factor);
    char text[200];
    vae_describe(v, text, sizeof text);
    CHECK(strcmp(text, "ch 32, ch_mult [1,2,2], num_res_blocks 2, z_channels 4 (factor 4)") == 0, "%s", text);
    CHECK(strcmp(vae_layout(v), "ldm") == 0, "layout %s", vae_layout(v));
    vae_free(v);
}

static void golden_parity_ldm_pth(void) { check_both_directions("vae_tiny.pth"); }

static void golden_parity_diffusers_folder(void) {
    check_both_directions("vae_tiny_diffusers");
    Vae *v = load("vae_tiny_diffusers");
    if (!v) return;
    double s = 0;
    CHECK(vae_scaling_factor(v, &s) && s == 0.18215, "scaling_factor %g", s);
    CHECK(strcmp(vae_layout(v), "diffusers") == 0, "layout %s", vae_layout(v));
    vae_free(v);
}

static void a_maskdit_checkpoint_is_refused(void) {
    char path[4400];
    snprintf(path, sizeof path, "%s/maskdit_tiny.pt", golden_dir);
    Error e = {{0}};
    Vae *v = vae_load(path, be, &e);
    CHECK(v == NULL && strstr(e.msg, "maskdit_tiny.pt") && strstr(e.msg, "state_dict"), "%s", e.msg);
    vae_free(v);
}

int main(void) {
    const char *dir = getenv("MASKDIT_GOLDEN_DIR");
    snprintf(golden_dir, sizeof golden_dir, "%s", dir ? dir : "../shared/golden");
    snprintf(golden_h5, sizeof golden_h5, "%s/vae_tiny.h5", golden_dir);
    h5_quiet();
    Error e;
    F = h5_open_read(golden_h5, &e);
    if (F < 0) {
        printf("FAIL open_golden\n    %s\n", e.msg);
        return 1;
    }
    be = backend_cpu_create(0);
    RUN(config_read_from_the_weights);
    RUN(golden_parity_ldm_pth);
    RUN(golden_parity_diffusers_folder);
    RUN(a_maskdit_checkpoint_is_refused);
    be->destroy(be);
    H5Fclose(F);
    return test_summary();
}
