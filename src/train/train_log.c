#include "train_log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>

static FILE *open_append(const char *dir, const char *name, Error *e) {
    char path[4200];
    xsnprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "a");
    if (!f) error_set(e, "cannot open '%s' for writing: %s", path, strerror(errno));
    return f;
}

int train_log_open(TrainLog *p, const char *experiment_dir, int tensorboard, Error *e) {
    memset(p, 0, sizeof *p);
    if (!(p->log = open_append(experiment_dir, "log.txt", e))) return -1;
    if (!(p->jsonl = open_append(experiment_dir, "metrics.jsonl", e))) return -1;
    if (tensorboard && !(p->tb = tfevents_open(experiment_dir, e))) return error_prefix(e, "log.tensorboard");
    train_log_restart_clock(p);
    return 0;
}

void train_log_close(TrainLog *p) {
    if (p->log) fclose(p->log);
    if (p->jsonl) fclose(p->jsonl);
    tfevents_close(p->tb);
    p->log = p->jsonl = NULL;
    p->tb = NULL;
}

/* A failed TensorBoard write (a full disk) must not end a training run that can still write its
 * checkpoints: it is reported once and the event file is given up. */
static void tb_failed(TrainLog *p, const Error *e) {
    train_log_error(p, "%s; no more TensorBoard output in this run (metrics.jsonl goes on)", e->msg);
    tfevents_close(p->tb);
    p->tb = NULL;
}

void train_log_image(TrainLog *p, long long step, const char *tag, const void *png, size_t len, int height, int width,
                     int channels) {
    Error e;
    if (p->tb && tfevents_image(p->tb, step, tag, png, len, height, width, channels, &e) < 0) tb_failed(p, &e);
}

static double wall_time(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec * 1e-6;
}

void train_log_restart_clock(TrainLog *p) {
    p->t_interval = now_seconds();
    p->steps = p->images = p->skipped = 0;
    p->loss_sum = p->flops = p->data_wait = p->host_prepare = 0;
    p->grad_norm = NAN;
}

void train_log_pause(TrainLog *p, double seconds) { p->t_interval += seconds; }

void train_log_step(TrainLog *p, const StepStats *s) {
    p->steps++;
    p->images += s->images;
    p->loss_sum += s->loss;
    p->flops += s->flops;
    p->data_wait += s->data_wait;
    p->host_prepare += s->host_prepare;
    p->skipped += s->skipped;
    p->grad_norm = s->grad_norm;
}

void train_log_json_string(const char *s, char *out, size_t len) {
    snprintf(out, len, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') text_append(out, len, "\\%c", *p);
        else if (*p < 0x20) text_append(out, len, "\\u%04x", *p);
        else text_append(out, len, "%c", *p);
    }
    text_append(out, len, "\"");
}

static void vsay(TrainLog *p, FILE *out, const char *prefix, const char *fmt, va_list ap) {
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(out, "%s%s\n", prefix, line);
    fflush(out);
    if (p->log) {
        fprintf(p->log, "%s%s\n", prefix, line);
        fflush(p->log);
    }
}

void train_log_say(TrainLog *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(p, stdout, "", fmt, ap);
    va_end(ap);
}

void train_log_error(TrainLog *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(p, stderr, "maskdit-train: error: ", fmt, ap);
    va_end(ap);
}

void train_log_event(TrainLog *p, const char *name, const char *fields_fmt, ...) {
    if (!p->jsonl) return;
    /* Printed straight to the file: a field (a long path) is never cut. */
    fprintf(p->jsonl, "{\"event\": \"%s\"", name);
    if (fields_fmt[0]) {
        va_list ap;
        va_start(ap, fields_fmt);
        fputs(", ", p->jsonl);
        vfprintf(p->jsonl, fields_fmt, ap);
        va_end(ap);
    }
    fprintf(p->jsonl, ", \"time\": %.3f}\n", wall_time());
    fflush(p->jsonl);
}

/* A number as a JSON value: null where JSON has none (NaN, Inf: an fp16 overflow's norm). */
static void json_number(char *buf, size_t len, double v) {
    if (isfinite(v)) snprintf(buf, len, "%.6g", v);
    else snprintf(buf, len, "null");
}

void train_log_report(TrainLog *p, const ReportState *r) {
    if (p->steps == 0) return;
    double dt = now_seconds() - p->t_interval;
    if (dt <= 0) dt = 1e-9;
    double sps = p->steps / dt, ips = p->images / dt, loss = p->loss_sum / p->steps;
    double eta = r->end_step > r->step ? (r->end_step - r->step) / sps : 0;
    double wait = p->data_wait / p->steps, prep = p->host_prepare / p->steps, flops = p->flops / dt;
    double mfu = r->peak_flops > 0 ? flops / r->peak_flops : NAN;
    char eta_s[32], mem[32], extra[256] = "", norm[32], mfu_json[32];
    format_duration(eta, eta_s, sizeof eta_s);
    format_bytes((double)r->peak_mem_bytes, mem, sizeof mem);
    json_number(norm, sizeof norm, p->grad_norm);
    json_number(mfu_json, sizeof mfu_json, mfu);
    if (isfinite(mfu)) text_append(extra, sizeof extra, ", MFU: %.1f%%", 100 * mfu);
    if (r->fp16) text_append(extra, sizeof extra, ", Loss Scale: %g (%lld skipped)", r->loss_scale, p->skipped);
    train_log_say(p, "(step=%07lld) Train Loss: %.4f, Train Steps/Sec: %.2f, Images/Sec: %.1f, LR: %.3g, Mask: %.3f, "
                    "ETA: %s, Peak Mem: %s, Grad Norm: %.4g, Data Wait: %.1f ms, Prep: %.1f ms%s",
                 r->step, loss, sps, ips, r->lr, r->mask_ratio, eta_s, mem, p->grad_norm, 1e3 * wait, 1e3 * prep, extra);
    train_log_event(p, "train",
                   "\"step\": %lld, \"loss\": %.9g, \"steps_per_sec\": %.6g, \"images_per_sec\": %.6g, \"lr\": %.9g, "
                   "\"mask_ratio\": %.6g, \"eta_sec\": %.0f, \"peak_mem_bytes\": %zu, \"grad_norm\": %s, "
                   "\"loss_scale\": %.9g, \"skipped_steps\": %lld, \"data_wait_sec\": %.6g, \"host_prepare_sec\": %.6g, "
                   "\"tflops_per_device\": %.6g%s%s",
                   r->step, loss, sps, ips, r->lr, r->mask_ratio, eta, r->peak_mem_bytes, norm, r->loss_scale,
                   p->skipped, wait, prep, flops * 1e-12, isfinite(mfu) ? ", \"mfu\": " : "", isfinite(mfu) ? mfu_json : "");
    if (p->tb) {
        const char *tags[] = {"train/loss", "train/steps_per_sec", "train/images_per_sec", "train/lr",
                              "train/mask_ratio", "train/peak_mem_bytes", "train/loss_scale", "train/skipped_steps",
                              "train/data_wait_sec", "train/host_prepare_sec", "train/tflops_per_device",
                              "train/grad_norm", "train/mfu"};
        double values[] = {loss, sps, ips, r->lr, r->mask_ratio, (double)r->peak_mem_bytes, r->loss_scale,
                           (double)p->skipped, wait, prep, flops * 1e-12, p->grad_norm, mfu};
        /* the norm (non-finite on an fp16 overflow) and the MFU (unknown peak) only where they are numbers */
        int n = ARRAY_LEN(tags) - 2;
        if (isfinite(p->grad_norm)) n++;
        else tags[n] = tags[n + 1], values[n] = values[n + 1];
        if (isfinite(mfu)) n++;
        Error e;
        if (tfevents_scalars(p->tb, r->step, tags, values, n, &e) < 0) tb_failed(p, &e);
    }
    train_log_restart_clock(p);
}
