#include "latents_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../util/fileio.h"
#include "../util/h5util.h"

/* Dataset creation properties without modification times: the same samples give the same file,
 * byte for byte (a resumed run's latents.h5 equals an uninterrupted run's). */
static hid_t untimed_dcpl(void) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0 || H5Pset_obj_track_times(dcpl, 0) < 0) FATAL("HDF5 dataset creation properties");
    return dcpl;
}

static int write_ints(hid_t file, const char *name, const long long *v, long long n) {
    hsize_t dim = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &dim, NULL), dcpl = untimed_dcpl();
    hid_t d = H5Dcreate2(file, name, H5T_STD_I64LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    int r = d < 0 || H5Dwrite(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0 ? -1 : 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    return r;
}

static int write_meta(LatentsFile *f, const SampleMeta *m) {
    hid_t root = f->file;
    char decode[512];
    xsnprintf(decode, sizeof decode,
              "scaled VAE latents z: decode images with the Stable Diffusion VAE decoder applied to z / %g", LATENT_SCALE_FACTOR);
    return h5_write_attr_string(root, "format", "maskdit-samples-v1") || h5_write_attr_string(root, "kind", "latents") ||
           h5_write_attr_int64(root, "needs_vae_decoder", 1) ||
           h5_write_attr_double(root, "scale_factor", LATENT_SCALE_FACTOR) || h5_write_attr_string(root, "decode", decode) ||
           h5_write_attr_string(root, "checkpoint", m->checkpoint) || h5_write_attr_string(root, "weights", m->weights) ||
           h5_write_attr_string(root, "sampler", m->sampler) || h5_write_attr_double(root, "cfg_scale", m->cfg_scale) ||
           h5_write_attr_int64(root, "num_classes", m->num_classes);
}

int latents_file_create(LatentsFile *f, const char *path, const SampleWork *w, int C, int H, int W,
                        const SampleMeta *meta, Error *e) {
    memset(f, 0, sizeof *f);
    f->file = f->latents = H5I_INVALID_HID;
    xsnprintf(f->path, sizeof f->path, "%s", path);
    tmp_name(path, f->tmp, sizeof f->tmp);
    f->count = w->count;
    f->row_bytes = (size_t)C * H * W * sizeof(float);
    h5_quiet();
    f->file = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f->file < 0) return error_set(e, "%s: cannot create (%s)", f->tmp, strerror(errno));
    hsize_t dims[4] = {(hsize_t)w->count, (hsize_t)C, (hsize_t)H, (hsize_t)W};
    /* Chunks of about 1 MiB along N, so that readers can stream rows. */
    hsize_t chunk[4] = {(hsize_t)MAX(1, MIN(w->count, (long long)((1 << 20) / f->row_bytes))), dims[1], dims[2], dims[3]};
    hid_t space = H5Screate_simple(4, dims, NULL), dcpl = untimed_dcpl();
    H5Pset_chunk(dcpl, 4, chunk);
    f->latents = H5Dcreate2(f->file, "latents", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    long long *seeds = xmalloc((size_t)w->count * sizeof *seeds, "seeds"), *labels = xmalloc((size_t)w->count * sizeof *labels, "labels");
    for (long long i = 0; i < w->count; i++) {
        seeds[i] = w->items[i].seed;
        labels[i] = w->items[i].class_idx;
    }
    int bad = f->latents < 0 || write_ints(f->file, "seeds", seeds, w->count) ||
              write_ints(f->file, "labels", labels, w->count) || write_meta(f, meta);
    free(seeds);
    free(labels);
    if (bad) {
        latents_file_abort(f);
        return error_set(e, "%s: cannot write the datasets (disk full?)", f->tmp);
    }
    return 0;
}

int latents_file_sink(void *ctx, const void *data, size_t bytes, Error *e) {
    LatentsFile *f = ctx;
    long long rows = (long long)(bytes / f->row_bytes);
    if (bytes % f->row_bytes || f->rows_written + rows > f->count)
        FATAL("latents file %s: %zu bytes do not fit the remaining rows", f->tmp, bytes);
    hid_t fspace = H5Dget_space(f->latents);
    hsize_t start[4] = {(hsize_t)f->rows_written, 0, 0, 0}, count[4];
    H5Sget_simple_extent_dims(fspace, count, NULL);
    count[0] = (hsize_t)rows;
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t mspace = H5Screate_simple(4, count, NULL);
    herr_t r = H5Dwrite(f->latents, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, data);
    H5Sclose(mspace);
    H5Sclose(fspace);
    if (r < 0) return error_set(e, "%s: cannot write latents rows %lld.. (disk full?)", f->tmp, f->rows_written);
    f->rows_written += rows;
    return 0;
}

int latents_file_close(LatentsFile *f, Error *e) {
    if (f->rows_written != f->count) FATAL("latents file %s: %lld of %lld rows written", f->tmp, f->rows_written, f->count);
    int bad = H5Dclose(f->latents) < 0;
    bad |= H5Fclose(f->file) < 0;
    f->latents = f->file = H5I_INVALID_HID;
    if (tmp_finish(f->tmp, f->path, !bad) < 0)
        return error_set(e, "%s: cannot complete the file (%s)", f->path, bad ? "HDF5 close failed" : strerror(errno));
    return 0;
}

void latents_file_abort(LatentsFile *f) {
    if (f->latents >= 0) H5Dclose(f->latents);
    if (f->file >= 0) H5Fclose(f->file);
    f->latents = f->file = H5I_INVALID_HID;
    remove(f->tmp);
}
