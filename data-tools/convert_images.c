/* `maskdit-convert images`: an image folder (torchvision ImageFolder layout) -> VAE moments, the
 * original's extract_latent.py step in C. Per image: decode and convert to RGB as Pillow does
 * (src/util/image_decode.h), ADM's center crop bit for bit with Pillow (src/util/adm_crop.h),
 * [-1, 1], the VAE encoder's moments. With --encode-flips the mirrored images' moments follow as a
 * second half (sample N + i mirrors sample i) and the dataset is marked xflip_included. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../src/util/adm_crop.h"
#include "../src/util/image_decode.h"
#include "../src/util/numtext.h"
#include "../src/vae/vae.h"
#include "convert.h"

/* Images per call of the VAE encoder. */
#define ENCODE_BATCH 8

typedef struct {
    char *root, *name;   /* the file is root/name; ImageFolder's order is (root, name) */
    int label;
} ImageFile;

typedef struct {
    ImageFile *files;
    long long n_files;   /* N; the dataset has 2N samples with mirrors */
    int R;
    Backend *be;
    Vae *vae;
    uint8_t *crop;
    float *pixels;
} Images;

static const char USAGE[] =
    "usage: maskdit-convert images SRC --vae PATH --resolution R --out DIR [options]\n"
    "Encodes an image folder (SRC/CLASS/...: torchvision ImageFolder order and labels) with the VAE into HDF5\n"
    "shards of kind moments: Pillow's convert('RGB') and ADM's center crop to R x R, bit for bit, then the encoder.\n"
    "  --vae PATH           the VAE's weights (any layout maskdit-vae reads); --pretrained_path is a synonym\n"
    "  --resolution R       image size, a multiple of the VAE's factor (256 or 512 for the original)\n"
    "  --encode-flips       also store the mirrored images' moments as a second half (xflip_included)\n"
    "  --device D           cpu, cuda or auto (default auto)\n";

/* ImageFolder's IMG_EXTENSIONS (compared in lower case). */
static int image_extension(const char *name) {
    static const char *const EXT[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};
    size_t n = strlen(name);
    for (size_t i = 0; i < ARRAY_LEN(EXT); i++) {
        size_t k = strlen(EXT[i]);
        if (n >= k && !strcasecmp(name + n - k, EXT[i])) return 1;
    }
    return 0;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);   /* follows links, as ImageFolder does */
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The entries of dir, sorted (byte order = Python's order of str); -1 if it cannot be read. */
static int list_dir(const char *dir, char ***names, size_t *n, Error *e) {
    DIR *d = opendir(dir);
    if (!d) return error_set(e, "%s: cannot read the folder: %s", dir, strerror(errno));
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..")) continue;
        if (*n == cap) *names = xrealloc(*names, (cap = cap ? 2 * cap : 64) * sizeof **names, "folder listing");
        (*names)[(*n)++] = xstrdup(ent->d_name);
    }
    closedir(d);
    qsort(*names, *n, sizeof **names, by_name);
    return 0;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* os.walk(followlinks=True) of one class folder: every image file with its folder. */
static int walk(Images *im, const char *dir, int label, size_t *cap, Error *e) {
    char **names;
    size_t n;
    if (list_dir(dir, &names, &n, e) < 0) return -1;
    int r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        char *path;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0) FATAL("out of memory");
        if (is_dir(path)) {
            r = walk(im, path, label, cap, e);
        } else if (image_extension(names[i])) {
            if ((size_t)im->n_files == *cap) im->files = xrealloc(im->files, (*cap = *cap ? 2 * *cap : 1024) * sizeof *im->files, "image list");
            im->files[im->n_files++] = (ImageFile){xstrdup(dir), xstrdup(names[i]), label};
        }
        free(path);
    }
    free_names(names, n);
    return r;
}

static int by_root_then_name(const void *a, const void *b) {
    const ImageFile *x = a, *y = b;
    int c = strcmp(x->root, y->root);
    return c ? c : strcmp(x->name, y->name);
}

/* ImageFolder: classes = the sorted sub-folders, label = index; samples sorted(os.walk) per class. */
static int list_images(Images *im, const char *src, Error *e) {
    char **names;
    size_t n, cap = 0;
    if (list_dir(src, &names, &n, e) < 0) return -1;
    int label = 0, r = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        char *path;
        if (asprintf(&path, "%s/%s", src, names[i]) < 0) FATAL("out of memory");
        if (is_dir(path)) {
            long long before = im->n_files;
            r = walk(im, path, label, &cap, e);
            /* os.walk's sorted() orders a class's folders by path: sort this class's files so */
            qsort(im->files + before, (size_t)(im->n_files - before), sizeof *im->files, by_root_then_name);
            if (r == 0 && im->n_files == before)
                r = error_set(e, "%s: a class folder without image files (ImageFolder's extensions: .jpg .jpeg .png "
                                 ".ppm .bmp .pgm .tif .tiff .webp)", path);
            label++;
        }
        free(path);
    }
    free_names(names, n);
    if (r == 0 && label == 0) r = error_set(e, "%s: no class folders (expected SRC/CLASS/IMAGE files)", src);
    return r;
}

/* Sample i's image (mirrored for i >= N) cropped, in [-1, 1], CHW at px. */
static int load_image(Images *im, long long i, float *px, Error *e) {
    const ImageFile *f = &im->files[i % im->n_files];
    char *path;
    if (asprintf(&path, "%s/%s", f->root, f->name) < 0) FATAL("out of memory");
    FILE *fp = fopen(path, "rb");
    unsigned char *data = NULL;
    size_t len = 0;
    int r = 0;
    if (!fp) {
        r = error_set(e, "%s: cannot open: %s", path, strerror(errno));
    } else {
        size_t cap = 1 << 16;
        data = xmalloc(cap, "image file");
        size_t got;
        while ((got = fread(data + len, 1, cap - len, fp)) > 0)
            if ((len += got) == cap) data = xrealloc(data, cap *= 2, "image file");
        if (ferror(fp)) r = error_set(e, "%s: read error: %s", path, strerror(errno));
        fclose(fp);
    }
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    if (r == 0) r = image_decode_rgb(data, len, path, &rgb, &w, &h, e);
    free(data);
    if (r == 0) {
        if (MIN(w, h) < im->R)
            info("note: %s is %dx%d, smaller than --resolution %d: upscaled, as the original does", path, w, h, im->R);
        adm_center_crop(rgb, w, h, im->R, im->crop);
        size_t plane = (size_t)im->R * (size_t)im->R;
        int mirror = i >= im->n_files;
        for (int y = 0; y < im->R; y++)
            for (int x = 0; x < im->R; x++) {
                const uint8_t *p = im->crop + ((size_t)y * (size_t)im->R + (size_t)(mirror ? im->R - 1 - x : x)) * 3;
                for (int c = 0; c < 3; c++) px[(size_t)c * plane + (size_t)y * (size_t)im->R + (size_t)x] = p[c] / 127.5f - 1;
            }
    }
    free(rgb);
    free(path);
    return r;
}

static int images_read(ConvertSource *src, long long first, long long n, float *x, Error *e) {
    Images *im = src->impl;
    size_t image = 3 * (size_t)im->R * (size_t)im->R;
    size_t sample = (size_t)src->channels * (size_t)src->resolution * (size_t)src->resolution;
    for (long long done = 0; done < n;) {
        int b = (int)MIN(ENCODE_BATCH, n - done);
        for (int k = 0; k < b; k++)
            if (load_image(im, first + done + k, im->pixels + (size_t)k * image, e) < 0) return -1;
        vae_encode(im->vae, x + (size_t)done * sample, im->pixels, b, im->R, im->R);
        done += b;
    }
    return 0;
}

static void images_close(ConvertSource *src) {
    Images *im = src->impl;
    if (im) {
        for (long long i = 0; i < im->n_files; i++) {
            free(im->files[i].root);
            free(im->files[i].name);
        }
        free(im->files);
        if (im->vae) vae_free(im->vae);
        if (im->be) im->be->destroy(im->be);
        free(im->crop);
        free(im->pixels);
        free(im);
    }
    free(src->labels);
    src->impl = NULL;
    src->labels = NULL;
}

int convert_images_command(int argc, char **argv, const Dist *dist, Error *e) {
    ConvertOptions opt;
    convert_options_default(&opt, "moments");
    const char *src_dir = NULL, *vae = NULL, *vae2 = NULL, *resolution_text = NULL, *device = "auto";
    int flips = 0;
    const ConvertArg args[] = {{"--vae", &vae, NULL}, {"--pretrained_path", &vae2, NULL},
                               {"--resolution", &resolution_text, NULL}, {"--encode-flips", NULL, &flips},
                               {"--device", &device, NULL}, {NULL, &src_dir, NULL}, {NULL, NULL, NULL}};
    int r = convert_parse_args(argc, argv, args, &opt, USAGE, e);
    if (r != 0) return r < 0 ? -1 : 0;
    if (!vae) vae = vae2;
    if (!src_dir || !vae || !resolution_text)
        return error_set(e, "images: give SRC, --vae and --resolution (see maskdit-convert images --help)");
    long long R;
    if (parse_whole("--resolution", resolution_text, 8, 1 << 14, &R, e) < 0) return -1;
    ConvertSource src = {0};
    Images *im = xcalloc(1, sizeof *im, "images source");
    src.impl = im;
    src.read = images_read;
    im->R = (int)R;
    xsnprintf(src.description, sizeof src.description, "images %s", src_dir);
    xsnprintf(src.labels_from, sizeof src.labels_from, "%s", src.description);
    r = list_images(im, src_dir, e);
    if (r == 0) {
        im->be = backend_create(device, dist->local_rank, "fp32", 0, 0);
        im->vae = vae_load(vae, im->be, e);
        if (!im->vae) r = -1;
    }
    if (r == 0) {
        const VaeConfig *c = vae_config(im->vae);
        if (R % c->factor) r = error_set(e, "--resolution %lld: not a multiple of the VAE's factor %d", R, c->factor);
        src.channels = 2 * c->z_channels;
        src.resolution = (int)(R / c->factor);
        double s;
        if (opt.scale_factor < 0 && vae_scaling_factor(im->vae, &s)) opt.scale_factor = s;
    }
    if (r == 0) {
        src.count = im->n_files * (flips ? 2 : 1);
        src.labels = xmalloc((size_t)src.count * sizeof *src.labels, "labels");
        for (long long i = 0; i < src.count; i++) src.labels[i] = im->files[i % im->n_files].label;
        im->crop = xmalloc((size_t)R * (size_t)R * 3, "crop");
        im->pixels = xmalloc((size_t)ENCODE_BATCH * 3 * (size_t)R * (size_t)R * sizeof *im->pixels, "images");
        opt.xflip_included = opt.xflip_included || flips;
        opt.inputs[0] = vae;   /* the images are not fingerprinted one by one (see docs) */
        r = convert_write_dataset(&src, &opt, dist, e);
    }
    images_close(&src);
    return r;
}
