/* The VAE (src/vae) against the float64 golden of ../shared/golden/vae_tiny.h5: the configuration
 * read from the weights' shapes, both directions in fp32 on the CPU (<= 1e-5 relative to the
 * tensor's max magnitude), from every weight layout, and the refusals of files that are not a
 * KL autoencoder; and the real KL-f8 architecture with formula weights against
 * tests/data/vae_real_256.h5 (tests/golden/make_vae_real.py). */
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

/* The real KL-f8 architecture (83.7M parameters) with the weights of vae_synthetic_tensor, against
 * the float64 outputs tests/golden/make_vae_real.py computed with the same formula: one 256x256
 * encode and one 32x32-latent decode (tests/data/vae_real_256.h5, references rounded to float32). */
static void real_architecture_golden(void) {
    const char *path = "tests/data/vae_real_256.h5";
    Error e;
    hid_t f = h5_open_read(path, &e);
    CHECK(f >= 0, "%s", e.msg);
    if (f < 0) return;
    const VaeConfig cfg = {.in_channels = 3, .ch = 128, .levels = 4, .ch_mult = {1, 2, 4, 4}, .num_res_blocks = 2,
                           .z_channels = 4};
    long long seed = 0;
    if (h5_attr_int64(f, path, "/", "seed", &seed, &e) < 0) FATAL("%s", e.msg);
    Vae *v = vae_create_synthetic(&cfg, (uint32_t)seed, be);
    CHECK(vae_parameter_count(v) == 83653863, "parameters %zu (the real autoencoder_kl.pth has 83653863)",
          vae_parameter_count(v));
    const size_t n_img = 3 * 256 * 256, n_mom = 8 * 32 * 32, n_lat = 4 * 32 * 32;
    float *image = malloc(n_img * sizeof *image), *latent = malloc(n_lat * sizeof *latent);
    float *mom_ref = malloc(n_mom * sizeof *mom_ref), *dec_ref = malloc(n_img * sizeof *dec_ref);
    float *moments = malloc(n_mom * sizeof *moments), *decoded = malloc(n_img * sizeof *decoded);
    if (h5_read_into(f, path, "image", H5T_NATIVE_FLOAT, image, n_img, &e) < 0 ||
        h5_read_into(f, path, "latent", H5T_NATIVE_FLOAT, latent, n_lat, &e) < 0 ||
        h5_read_into(f, path, "moments", H5T_NATIVE_FLOAT, mom_ref, n_mom, &e) < 0 ||
        h5_read_into(f, path, "decoded", H5T_NATIVE_FLOAT, dec_ref, n_img, &e) < 0)
        FATAL("%s", e.msg);
    H5Fclose(f);
    double *ref = malloc(n_img * sizeof *ref);
    vae_encode(v, moments, image, 1, 256, 256);
    for (size_t i = 0; i < n_mom; i++) ref[i] = mom_ref[i];
    double err = rel_error(moments, ref, n_mom);
    CHECK(err <= PARITY_TOL, "real architecture, encoder moments: relative error %.3g", err);
    vae_decode(v, decoded, latent, 1, 32, 32);
    for (size_t i = 0; i < n_img; i++) ref[i] = dec_ref[i];
    err = rel_error(decoded, ref, n_img);
    CHECK(err <= PARITY_TOL, "real architecture, decoded image: relative error %.3g", err);
    free(image), free(latent), free(mom_ref), free(dec_ref), free(moments), free(decoded), free(ref);
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
    RUN(real_architecture_golden);
    RUN(a_maskdit_checkpoint_is_refused);
    be->destroy(be);
    H5Fclose(F);
    return test_summary();
}
