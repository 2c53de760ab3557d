/* TrainLog reporting of rank 0: the original's lines
 *   (step=0000100) Train Loss: 0.1234, Train Steps/Sec: 2.14
 * extended with images/s, lr, mask ratio, ETA and peak memory, on stdout and appended to
 * <experiment>/log.txt (as the original's Logger does), and one JSON object per report and per
 * event in <experiment>/metrics.jsonl:
 *   {"event": "train", "step": 100, "loss": 0.1234, "steps_per_sec": 2.14, "images_per_sec": 68.5,
 *    "lr": 0.0001, "mask_ratio": 0.5, "eta_sec": 3600, "peak_mem_bytes": 123456789, "time": 1712345678.9}
 * Events: "start", "checkpoint", "stop" (with their fields). */
#ifndef MASKDIT_TRAIN_LOG_H
#define MASKDIT_TRAIN_LOG_H

#include <stdio.h>

#include "../util/common.h"

typedef struct {
    FILE *log, *jsonl;
    double t_interval;          /* start of the current reporting interval */
    long long steps, images;    /* in the interval */
    double loss_sum;
} TrainLog;

int train_log_open(TrainLog *p, const char *experiment_dir, Error *e);
void train_log_close(TrainLog *p);

/* One finished optimizer step with its global mean loss and images. */
void train_log_step(TrainLog *p, double loss, long long images);

/* The progress line and JSON record for the interval since the last report; resets it. */
void train_log_report(TrainLog *p, long long step, long long end_step, double lr, double mask_ratio,
                     size_t peak_mem_bytes);

/* A message on stdout and in log.txt. */
void train_log_say(TrainLog *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "maskdit-train: error: ..." on stderr and in log.txt. */
void train_log_error(TrainLog *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A JSON record {"event": name, <fields>} (fields: JSON members without braces, may be ""; text in
 * them quoted with train_log_json_string). */
void train_log_event(TrainLog *p, const char *name, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* s as a JSON string literal, quotes included (for text fields of train_log_event: paths). */
void train_log_json_string(const char *s, char *out, size_t len);

/* Restart the interval clock (after a checkpoint write, which is not training time). */
void train_log_restart_clock(TrainLog *p);

#endif
