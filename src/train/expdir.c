#include "expdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "../ckpt/ckpt.h"
#include "../util/dirlock.h"
#include "../util/fileio.h"

void experiment_name(const RunConfig *c, long long global_batch, char *out, size_t len) {
    char model[sizeof c->model.model_type], ratio[64], mae[64], lr[64];
    snprintf(model, sizeof model, "%s", c->model.model_type);
    for (char *p = model; *p; p++)
        if (*p == '/') *p = '-';
    run_config_py_value(c, "model.mask_ratio", ratio, sizeof ratio);
    run_config_py_value(c, "model.mae_loss_coef", mae, sizeof mae);
    run_config_py_value(c, "train.lr", lr, sizeof lr);
    xsnprintf(out, len, "%s-%s-%s-%s-m%s-de%d-mae%s-bs-%lld-lr%s%s", model, c->model.precond, c->data.dataset,
              c->model.num_classes ? "cond" : "uncond", ratio, c->model.use_decoder ? 1 : 0, mae, global_batch, lr,
              c->log.tag);
}

int experiment_name_check(const RunConfig *c, Error *e) {
    const struct {
        const char *key, *value;
    } parts[] = {{"data.dataset", c->data.dataset}, {"log.tag (--tag)", c->log.tag}};
    for (size_t i = 0; i < ARRAY_LEN(parts); i++)
        if (strchr(parts[i].value, '/'))
            return error_set(e, "%s '%s' is part of the experiment directory's name and may not hold '/' (it would "
                                "place the directory elsewhere than in --results_dir)", parts[i].key, parts[i].value);
    return 0;
}

void experiment_checkpoint_dir(const char *dir, char *buf, size_t len) { xsnprintf(buf, len, "%s/checkpoints", dir); }

int experiment_prepare(const char *dir, Error *e) {
    char ckpt[4200], probe[4300];
    experiment_checkpoint_dir(dir, ckpt, sizeof ckpt);
    if (make_dirs(ckpt, e)) return error_prefix(e, "experiment directory");
    if (dir_lock(dir, "maskdit-train", "give this run another --results_dir or log.tag", e) < 0)
        return error_prefix(e, "experiment directory %s", dir);
    xsnprintf(probe, sizeof probe, "%s/.write-test-%d", ckpt, (int)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return error_set(e, "experiment directory '%s' is not writable: %s", ckpt, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}

/* "<path>.damaged", or "<path>.damaged.N" when that exists already (an earlier set-aside). */
static int set_aside(const char *path, Error *e) {
    size_t len = strlen(path) + 32;
    char *to = xmalloc(len, "file name");
    snprintf(to, len, "%s.damaged", path);
    for (int k = 1; access(to, F_OK) == 0; k++) snprintf(to, len, "%s.damaged.%d", path, k);
    int rc = rename(path, to) < 0 ? error_set(e, "cannot rename damaged checkpoint %s to %s: %s", path, to,
                                              strerror(errno))
                                  : 0;
    if (rc == 0) warn("renamed damaged checkpoint %s to %s, where it is kept (this run will write that step anew)",
                      path, to);
    free(to);
    return rc;
}

int experiment_protect_newer(const char *ckpt_dir, long long step, int damaged, Error *e) {
    DIR *d = opendir(ckpt_dir);
    if (!d) return error_set(e, "cannot list %s: %s", ckpt_dir, strerror(errno));
    int rc = 0;
    long long newest = -1;
    char *newest_name = NULL;
    for (struct dirent *de; rc == 0 && (de = readdir(d));) {
        long long s;
        if (!ckpt_step_of_name(de->d_name, &s) || s <= step) continue;
        if (damaged) {
            size_t len = strlen(ckpt_dir) + strlen(de->d_name) + 2;
            char *path = xmalloc(len, "file name");
            snprintf(path, len, "%s/%s", ckpt_dir, de->d_name);
            rc = set_aside(path, e);
            free(path);
        } else if (s > newest) {
            newest = s;
            free(newest_name);
            newest_name = xstrdup(de->d_name);
        }
    }
    closedir(d);
    if (rc == 0 && newest_name)
        rc = error_set(e, "%s holds %s, newer than step %lld where this run starts: the run's checkpoints would "
                          "overwrite it; to go on from the newest, give it as --ckpt_path; to restart from step %lld, "
                          "move the newer checkpoints out of %s first", ckpt_dir, newest_name, step, step, ckpt_dir);
    free(newest_name);
    return rc;
}

void path_dirname(const char *path, char *out, size_t len) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        xsnprintf(out, len, ".");
    } else if (slash == path) {
        xsnprintf(out, len, "/");
    } else {
        if ((size_t)(slash - path) >= len) FATAL("path too long: %s", path);
        memcpy(out, path, (size_t)(slash - path));
        out[slash - path] = 0;
    }
}
