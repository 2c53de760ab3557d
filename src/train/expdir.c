#include "expdir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

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

void experiment_checkpoint_dir(const char *dir, char *buf, size_t len) { xsnprintf(buf, len, "%s/checkpoints", dir); }

int experiment_prepare(const char *dir, Error *e) {
    char ckpt[4200], probe[4300];
    experiment_checkpoint_dir(dir, ckpt, sizeof ckpt);
    if (make_dirs(ckpt, e)) return error_prefix(e, "experiment directory");
    xsnprintf(probe, sizeof probe, "%s/.write-test-%d", ckpt, (int)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return error_set(e, "experiment directory '%s' is not writable: %s", ckpt, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
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
