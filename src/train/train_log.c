#include "train_log.h"

#include <errno.h>
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

int train_log_open(TrainLog *p, const char *experiment_dir, Error *e) {
    memset(p, 0, sizeof *p);
    if (!(p->log = open_append(experiment_dir, "log.txt", e))) return -1;
    if (!(p->jsonl = open_append(experiment_dir, "metrics.jsonl", e))) return -1;
    train_log_restart_clock(p);
    return 0;
}

void train_log_close(TrainLog *p) {
    if (p->log) fclose(p->log);
    if (p->jsonl) fclose(p->jsonl);
    p->log = p->jsonl = NULL;
}

static double wall_time(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec + tv.tv_usec * 1e-6;
}

void train_log_restart_clock(TrainLog *p) {
    p->t_interval = now_seconds();
    p->steps = p->images = 0;
    p->loss_sum = 0;
}

void train_log_step(TrainLog *p, double loss, long long images) {
    p->steps++;
    p->images += images;
    p->loss_sum += loss;
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

void train_log_report(TrainLog *p, long long step, long long end_step, double lr, double mask_ratio,
                     size_t peak_mem_bytes) {
    if (p->steps == 0) return;
    double dt = now_seconds() - p->t_interval;
    if (dt <= 0) dt = 1e-9;
    double sps = p->steps / dt, ips = p->images / dt, loss = p->loss_sum / p->steps;
    double eta = end_step > step ? (end_step - step) / sps : 0;
    char eta_s[32], mem[32];
    format_duration(eta, eta_s, sizeof eta_s);
    format_bytes((double)peak_mem_bytes, mem, sizeof mem);
    train_log_say(p, "(step=%07lld) Train Loss: %.4f, Train Steps/Sec: %.2f, Images/Sec: %.1f, LR: %.3g, Mask: %.3f, "
                    "ETA: %s, Peak Mem: %s",
                 step, loss, sps, ips, lr, mask_ratio, eta_s, mem);
    train_log_event(p, "train",
                   "\"step\": %lld, \"loss\": %.9g, \"steps_per_sec\": %.6g, \"images_per_sec\": %.6g, \"lr\": %.9g, "
                   "\"mask_ratio\": %.6g, \"eta_sec\": %.0f, \"peak_mem_bytes\": %zu",
                   step, loss, sps, ips, lr, mask_ratio, eta, peak_mem_bytes);
    train_log_restart_clock(p);
}
