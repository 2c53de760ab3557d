#include "parts_dir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../util/fileio.h"

#define RUN_RECORD_MAX_BYTES (1 << 20)

static int has_suffix(const char *name, const char *suffix) {
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && !strcmp(name + n - k, suffix);
}

/* Removes the files of the directory that a run writes there: parts, temporary files, and
 * run.txt when with_record (last, so that parts never outlive their description); counts the
 * parts removed or, with remove_parts 0, only counts them. */
static long long sweep(const char *dir, int remove_parts, int with_record) {
    DIR *dp = opendir(dir);
    if (!dp) FATAL("cannot list %s: %s", dir, strerror(errno));
    long long parts = 0;
    struct dirent *de;
    char path[4400];
    while ((de = readdir(dp))) {
        int is_part = has_suffix(de->d_name, ".part"), is_tmp = has_suffix(de->d_name, ".tmp");
        parts += is_part;
        if (!is_tmp && !(is_part && remove_parts)) continue;
        xsnprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (remove(path) < 0 && errno != ENOENT) FATAL("cannot remove %s: %s", path, strerror(errno));
    }
    closedir(dp);
    xsnprintf(path, sizeof path, "%s/%s", dir, RUN_RECORD_FILE);
    if (with_record && remove(path) < 0 && errno != ENOENT) FATAL("cannot remove %s: %s", path, strerror(errno));
    return parts;
}

/* run.txt's text (malloc'ed), or NULL when there is none. */
static char *read_record(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return NULL;
        die("%s: cannot read (%s)", path, strerror(errno));
    }
    char *text = xmalloc(RUN_RECORD_MAX_BYTES + 1, "run description");
    size_t n = fread(text, 1, RUN_RECORD_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > RUN_RECORD_MAX_BYTES) die("%s: cannot read the run description (%s)", path, bad ? strerror(errno) : "too long");
    text[n] = 0;
    return text;
}

static void write_record(const char *path, const RunRecord *r) {
    char tmp[4400];
    tmp_name(path, tmp, sizeof tmp);
    FILE *f = fopen(tmp, "wb");
    if (!f) die("%s: cannot create (%s)", tmp, strerror(errno));
    int ok = fwrite(r->text, 1, r->len, f) == r->len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (tmp_finish(tmp, path, ok)) die("%s: cannot write the run description (%s)", path, strerror(errno));
}

static void prepare_on_root(const char *results_dir, const RunRecord *r, int fresh, const char *dir) {
    Error e;
    if (make_dirs(dir, &e)) die("--results_dir: %s", e.msg);
    if (fresh) {
        long long n = sweep(dir, 1, 1);
        if (n) info("--fresh: discarded %lld batch part%s of an earlier run in %s", n, n == 1 ? "" : "s", dir);
    }
    char path[4400];
    xsnprintf(path, sizeof path, "%s/%s", dir, RUN_RECORD_FILE);
    long long parts = sweep(dir, 0, 0);
    char *recorded = read_record(path);
    if (recorded) {
        if (run_record_compare(r, recorded, path, &e))
            die("%s holds the batches of an unfinished run with other settings: %s. Run the same command as before "
                "to finish that run, or add --fresh to discard its batches and start over (or choose another "
                "--results_dir)", results_dir, e.msg);
        free(recorded);
    } else if (parts) {
        die("%s holds %lld batch part%s but no %s describing their run, so they cannot be checked: add --fresh to "
            "discard them and start over", dir, parts, parts == 1 ? "" : "s", RUN_RECORD_FILE);
    } else {
        write_record(path, r);
    }
}

void parts_dir_prepare(const Dist *d, const char *results_dir, const RunRecord *r, int fresh, PartStore *ps) {
    xsnprintf(ps->dir, sizeof ps->dir, "%s/%s", results_dir, PARTS_SUBDIR);
    ps->run_crc = run_record_crc(r);
    if (d->rank == 0) prepare_on_root(results_dir, r, fresh, ps->dir);
    dist_barrier(d);
}

void parts_dir_remove(const PartStore *ps) {
    sweep(ps->dir, 1, 1);
    if (rmdir(ps->dir) < 0) warn("could not remove %s: %s", ps->dir, strerror(errno));
}
