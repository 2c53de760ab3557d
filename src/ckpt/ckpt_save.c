/* Writing a checkpoint with parallel HDF5: all ranks open "<path>.tmp" collectively (MPI-IO
 * driver), create every group and dataset together, and each rank writes its share of the data
 * with collective transfers. The shares: the sections present (model, ema, exp_avg, exp_avg_sq)
 * are laid end to end as one range of floats, cut into `world` contiguous pieces; a rank writes the
 * rows (slices along the first dimension) of every tensor whose first element falls in its piece
 * (possibly none: an empty selection still joins the collective call).
 *
 * Every step ends with the ranks agreeing on success (dist_min_int), so that they all go on or
 * all stop at the same call and no rank waits in a collective that the others left. After the
 * file is closed and synced everywhere, rank 0 renames it; on failure it removes the .tmp file and
 * every rank returns the message of the lowest failing rank.
 *
 * A full disk is refused before anything is written, because HDF5 (1.10) cannot close a file
 * whose metadata flush failed without crashing later at MPI_Finalize; and if the disk fills up
 * anyway (HDF5's own metadata comes on top of the tensors), the partial file is truncated to zero
 * length before the close, which gives the close room to finish. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../../mpi/dist.h"
#include "../util/fileio.h"
#include "../util/h5util.h"
#include "ckpt_layout.h"

/* What a rank wrote where: read back before the rename (see verify_shares). */
typedef struct {
    const char *group, *name;
    uint64_t file_offset;
    const float *data;
    size_t bytes;
} Share;

typedef struct {
    const Dist *d;
    int rank, world;
    const char *tmp;
    hid_t file, dcpl, dxpl;
    size_t lo, hi;        /* this rank's piece of the concatenated sections */
    int ok;               /* this rank's own status */
    Error err;            /* this rank's own message when !ok */
    Share *shares;
    int n_shares, cap_shares;
    unsigned sections;    /* bit s: section s written */
} Writer;

/* Record a local failure (the first message wins). */
static int fail_here(Writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_here(Writer *w, const char *fmt, ...) {
    if (w->ok) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err.msg, sizeof w->err.msg, fmt, ap);
        va_end(ap);
    }
    w->ok = 0;
    return 0;
}

/* 1 when every rank is fine. */
static int all_ok(Writer *w) { return dist_min_int(w->d, w->ok); }

/* After a collective create: all or none must have succeeded. Objects that exist on some ranks
 * only cannot be closed collectively, so a split outcome ends the job instead of hanging it. */
static int all_created(Writer *w, const char *what) {
    int n = dist_sum_int(w->d, w->ok);
    if (n != 0 && n != w->world) FATAL("%s: parallel HDF5 created %s on %d of %d ranks only", w->tmp, what, n, w->world);
    return n == w->world;
}

/* Rank 0's metadata everywhere: attribute writes must be identical on all ranks. */
static void share_meta(const CkptMeta *in, CkptMeta *out, const Dist *d) {
    *out = *in;
    dist_bcast(d, out, sizeof *out, 0);
    out->precision[sizeof out->precision - 1] = 0;
    out->config_text = dist_bcast_string(d, in->config_text);
    out->model_config_json = dist_bcast_string(d, in->model_config_json);
    out->software = dist_bcast_string(d, in->software);
}

static void write_attributes(Writer *w, const CkptMeta *m) {
    int r = h5_write_attr_string(w->file, "format", CKPT_FORMAT);
    r |= h5_write_attr_int64(w->file, "step", m->step);
    r |= h5_write_attr_int64(w->file, "sample_cursor", m->sample_cursor);
    r |= h5_write_attr_int64(w->file, "seed", m->seed);
    r |= h5_write_attr_int64(w->file, "world_size", w->world);
    r |= h5_write_attr_double(w->file, "loss_scale", m->loss_scale);
    if (m->loss_scale_good_steps >= 0)
        r |= h5_write_attr_int64(w->file, "loss_scale_good_steps", m->loss_scale_good_steps);
    r |= h5_write_attr_double(w->file, "lr", m->lr);
    r |= h5_write_attr_string(w->file, "precision", m->precision);
    if (m->config_text) r |= h5_write_attr_string(w->file, "config", m->config_text);
    if (m->model_config_json) r |= h5_write_attr_string(w->file, "model_config", m->model_config_json);
    if (m->software) r |= h5_write_attr_string(w->file, "software", m->software);
    if (r) fail_here(w, "%s: cannot write the checkpoint attributes", w->tmp);
}

/* Rows [r0, r1) of a tensor starting at flat position base whose first element is in [lo, hi). */
static void my_rows(const Writer *w, size_t base, size_t rows, size_t row_len, size_t *r0, size_t *r1) {
    size_t a = w->lo > base ? (w->lo - base + row_len - 1) / row_len : 0;
    size_t b = w->hi > base ? (w->hi - base + row_len - 1) / row_len : 0;
    *r0 = MIN(a, rows);
    *r1 = MIN(b, rows);
}

static int write_tensor(Writer *w, hid_t group, const char *group_name, const ParamInfo *p, const float *data,
                        size_t base) {
    hsize_t dims[PARAM_MAX_DIMS], start[PARAM_MAX_DIMS] = {0}, count[PARAM_MAX_DIMS];
    for (int d = 0; d < p->ndim; d++) count[d] = dims[d] = (hsize_t)p->shape[d];
    hid_t fspace = H5Screate_simple(p->ndim, dims, NULL);
    if (fspace < 0) FATAL("H5Screate_simple failed for %s", p->name);
    hid_t d = H5Dcreate2(group, p->name, H5T_IEEE_F32LE, fspace, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
    if (d < 0) fail_here(w, "%s: cannot create dataset /%s/%s", w->tmp, group_name, p->name);
    if (!all_created(w, p->name)) {
        H5Sclose(fspace);
        return -1;
    }
    size_t rows = (size_t)dims[0], r0, r1;
    my_rows(w, base, rows, p->numel / rows, &r0, &r1);
    hid_t mspace = H5Scopy(fspace);
    if (mspace < 0) FATAL("H5Scopy failed for %s", p->name);
    herr_t sel;
    if (r1 > r0) {
        start[0] = r0;
        count[0] = r1 - r0;
        sel = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
        if (sel >= 0) sel = H5Sselect_hyperslab(mspace, H5S_SELECT_SET, start, NULL, count, NULL);
    } else {
        sel = H5Sselect_none(fspace);
        if (sel >= 0) sel = H5Sselect_none(mspace);
    }
    if (sel < 0) FATAL("cannot select rows [%zu, %zu) of %s", r0, r1, p->name);
    if (H5Dwrite(d, H5T_NATIVE_FLOAT, mspace, fspace, w->dxpl, data) < 0)
        fail_here(w, "%s: writing /%s/%s failed (disk full or file system error?)", w->tmp, group_name, p->name);
    haddr_t addr = H5Dget_offset(d);
    if (addr == HADDR_UNDEF) fail_here(w, "%s: no file offset for /%s/%s", w->tmp, group_name, p->name);
    if (r1 > r0 && addr != HADDR_UNDEF) {
        size_t row_bytes = p->numel / rows * sizeof(float);
        if (w->n_shares == w->cap_shares) {
            w->cap_shares = w->cap_shares ? 2 * w->cap_shares : 256;
            w->shares = xrealloc(w->shares, (size_t)w->cap_shares * sizeof *w->shares, "checkpoint shares");
        }
        w->shares[w->n_shares++] = (Share){group_name, p->name, (uint64_t)addr + r0 * row_bytes,
                                           data + r0 * (p->numel / rows), (r1 - r0) * row_bytes};
    }
    H5Sclose(mspace);
    H5Sclose(fspace);
    if (H5Dclose(d) < 0) fail_here(w, "%s: closing dataset /%s/%s failed", w->tmp, group_name, p->name);
    return all_ok(w) ? 0 : -1;
}

static int write_section(Writer *w, const ParamTable *t, int s, const float *buf, size_t base) {
    const char *name = ckpt_section_group(s);
    hid_t g = h5_make_groups(w->file, name);
    if (g < 0) fail_here(w, "%s: cannot create group /%s", w->tmp, name);
    if (!all_created(w, name)) return -1;
    int rc = 0;
    for (int i = 0; i < t->count && rc == 0; i++) {
        const ParamInfo *p = &t->params[i];
        if (ckpt_section_trainable_only(s) && !p->trainable) continue;
        rc = write_tensor(w, g, name, p, buf + p->offset, base + p->offset);
    }
    if (H5Gclose(g) < 0) fail_here(w, "%s: closing group /%s failed", w->tmp, name);
    return all_ok(w) && rc == 0 ? 0 : -1;
}

/* The tensors alone must fit in the free space of the file system and under this process's file
 * size limit (ulimit -f). */
static void check_room(Writer *w, uint64_t data_bytes) {
    char b1[32], b2[32];
    struct rlimit lim;
    if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < data_bytes)
        fail_here(w, "%s: the tensors need %s but the file size limit (ulimit -f) is %s", w->tmp,
                  format_bytes((double)data_bytes, b1, sizeof b1), format_bytes((double)lim.rlim_cur, b2, sizeof b2));
    char *copy = xstrdup(w->tmp);
    struct statvfs fs;
    if (w->rank == 0 && statvfs(dirname(copy), &fs) == 0 && (uint64_t)fs.f_bavail * fs.f_frsize < data_bytes)
        fail_here(w, "%s: the tensors need %s but the file system has %s free", w->tmp,
                  format_bytes((double)data_bytes, b1, sizeof b1),
                  format_bytes((double)fs.f_bavail * (double)fs.f_frsize, b2, sizeof b2));
    free(copy);
}

static hid_t create_file(Writer *w) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_mpio(fapl, w->d->comm, MPI_INFO_NULL) < 0 || H5Pset_coll_metadata_write(fapl, 1) < 0 ||
        H5Pset_all_coll_metadata_ops(fapl, 1) < 0 ||
        /* 1.8+ object headers allow attributes over 64 KiB (long YAML configs); v110 keeps h5py 3 readers. */
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V110) < 0)
        FATAL("cannot set up the parallel HDF5 file access properties");
    hid_t f = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    return f;
}

static void make_properties(Writer *w) {
    w->dcpl = H5Pcreate(H5P_DATASET_CREATE);
    w->dxpl = H5Pcreate(H5P_DATASET_XFER);
    /* Contiguous storage, no fill pass: every element is written once, by its owner. */
    if (w->dcpl < 0 || w->dxpl < 0 || H5Pset_layout(w->dcpl, H5D_CONTIGUOUS) < 0 ||
        H5Pset_fill_time(w->dcpl, H5D_FILL_TIME_NEVER) < 0 || H5Pset_alloc_time(w->dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_dxpl_mpio(w->dxpl, H5FD_MPIO_COLLECTIVE) < 0)
        FATAL("cannot set up the HDF5 dataset properties");
}

/* Every rank's writes must reach the disk before the rename makes the file visible. */
static void sync_file(Writer *w) {
    int fd = open(w->tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) fail_here(w, "%s: fsync failed: %s", w->tmp, strerror(errno));
    if (fd >= 0) close(fd);
}

static void sync_directory(const char *path) {
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) warn("cannot fsync the directory of %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    free(copy);
}

/* MPI-IO implementations do not all report a failed write (Open MPI 4.1's OMPIO collective
 * writes were seen returning success on ENOSPC), so each rank reads its share back and compares,
 * and rank 0 checks that every dataset is in place, before the file may replace anything. The
 * data was just written: the reads come from the page cache. */
static void verify_shares(Writer *w, const ParamTable *t) {
    int fd = open(w->tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail_here(w, "%s: cannot reopen to verify: %s", w->tmp, strerror(errno));
        return;
    }
    size_t chunk = 4u << 20;
    unsigned char *buf = xmalloc(chunk, "checkpoint verification");
    for (int i = 0; i < w->n_shares && w->ok; i++) {
        const Share *s = &w->shares[i];
        for (size_t done = 0; done < s->bytes && w->ok; done += chunk) {
            size_t n = MIN(chunk, s->bytes - done);
            if (pread_full(fd, buf, n, s->file_offset + done) < 0 ||
                memcmp(buf, (const unsigned char *)s->data + done, n) != 0)
                fail_here(w, "%s: /%s/%s reads back different from what was written (disk full or I/O error)",
                          w->tmp, s->group, s->name);
        }
    }
    free(buf);
    close(fd);
    Error e;
    if (w->ok && w->rank == 0 && ckpt_check_layout(w->tmp, t, w->sections, &e) < 0)
        fail_here(w, "written file is incomplete: %s", e.msg);
}

/* Everyone gets the message of the lowest rank that failed. */
static int report_failure(Writer *w, Error *e) {
    dist_agree(w->d, w->ok ? 0 : -1, &w->err);
    if (w->rank == 0 && unlink(w->tmp) < 0 && errno != ENOENT && errno != EISDIR)
        warn("cannot remove %s: %s", w->tmp, strerror(errno));
    return error_set(e, "checkpoint not saved: %s", w->err.msg);
}

int ckpt_save(const char *path, const Dist *d, const ParamTable *t, const CkptTensors *ts, const CkptMeta *meta,
              Error *e) {
    h5_quiet();
    Writer w = {.d = d, .rank = d->rank, .world = d->world, .ok = 1, .file = -1};
    size_t len = strlen(path) + 5;
    char *tmp = xmalloc(len, "checkpoint temporary name");
    tmp_name(path, tmp, len);
    w.tmp = tmp;
    CkptMeta m;
    share_meta(meta, &m, d);

    size_t section_base[SEC_COUNT], total = 0;
    for (int s = 0; s < SEC_COUNT; s++) {
        section_base[s] = total;
        if (!ckpt_section_buffer(ts, s)) continue;
        total += ckpt_section_trainable_only(s) ? t->n_trainable : t->total;
        w.sections |= 1u << s;
    }
    w.lo = total * (size_t)w.rank / (size_t)w.world;
    w.hi = total * (size_t)(w.rank + 1) / (size_t)w.world;

    make_properties(&w);
    check_room(&w, total * sizeof(float));
    int rc = all_ok(&w) ? 0 : -1;
    if (rc == 0) {
        w.file = create_file(&w);
        if (w.file < 0) fail_here(&w, "%s: cannot create the file (missing directory or no permission?)", tmp);
        rc = all_created(&w, "the file") ? 0 : -1;
    }
    if (rc == 0) {
        write_attributes(&w, &m);
        rc = all_ok(&w) ? 0 : -1;
    }
    for (int s = 0; s < SEC_COUNT && rc == 0; s++) {
        const float *buf = ckpt_section_buffer(ts, s);
        if (buf) rc = write_section(&w, t, s, buf, section_base[s]);
    }
    if (w.file >= 0 && !all_ok(&w)) {
        /* Discarded anyway: free its blocks so that the close can flush (see the top). */
        if (w.rank == 0 && truncate(tmp, 0) < 0) warn("cannot truncate %s: %s", tmp, strerror(errno));
        dist_barrier(d);
    }
    if (w.file >= 0 && H5Fclose(w.file) < 0) fail_here(&w, "%s: closing the file failed", tmp);
    if (all_ok(&w)) sync_file(&w);
    if (all_ok(&w)) verify_shares(&w, t);
    if (all_ok(&w) && w.rank == 0 && rename(tmp, path) < 0)
        fail_here(&w, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    rc = all_ok(&w) ? 0 : report_failure(&w, e);
    if (rc == 0 && w.rank == 0) sync_directory(path);
    H5Pclose(w.dcpl);
    H5Pclose(w.dxpl);
    free(w.shares);
    ckpt_meta_free(&m);
    free(tmp);
    return rc;
}
