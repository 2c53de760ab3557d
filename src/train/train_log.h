/* TrainLog reporting of rank 0: the original's lines
 *   (step=0000100) Train Loss: 0.1234, Train Steps/Sec: 2.14
 * extended with images/s, lr, mask ratio, ETA, peak memory, gradient norm, data wait and host
 * preparation time per step, MFU (GPUs) and the loss scale (fp16), on stdout and appended to
 * <experiment>/log.txt (as the original's Logger does); one JSON object per report and per event
 * in <experiment>/metrics.jsonl:
 *   {"event": "train", "step": 100, "loss": 0.1234, "steps_per_sec": 2.14, "images_per_sec": 68.5,
 *    "lr": 0.0001, "mask_ratio": 0.5, "eta_sec": 3600, "peak_mem_bytes": 123456789, "grad_norm": 0.42,
 *    "loss_scale": 1, "skipped_steps": 0, "data_wait_sec": 0.0012, "host_prepare_sec": 0.0031,
 *    "tflops_per_device": 312.5, "mfu": 0.316, "time": 1712345678.9}
 * (mfu only where the device's peak is known); and the same numbers as scalars "train/<name>" in a
 * TensorBoard event file of the experiment directory (log.tensorboard).
 * Events: "start", "checkpoint", "stop" (with their fields). */
#ifndef MASKDIT_TRAIN_LOG_H
#define MASKDIT_TRAIN_LOG_H

#include <stdio.h>

#include "../util/common.h"
#include "../util/tfevents.h"

/* What one optimizer step did. */
typedef struct {
    double loss;              /* global mean loss */
    long long images;         /* global */
    double flops;             /* matrix-product FLOPs of one rank (src/model/flops.h) */
    double data_wait;         /* seconds waiting for the reader, mean over the ranks */
    double host_prepare;      /* seconds of host-side input preparation (draws, EDM inputs), mean over ranks */
    double grad_norm;         /* global gradient norm before clipping; NaN when not computed */
    int skipped;              /* the optimizer step was skipped (fp16: non-finite gradients) */
} StepStats;

/* The state a report shows next to the interval's numbers. */
typedef struct {
    long long step, end_step;
    double lr, mask_ratio;
    size_t peak_mem_bytes;
    double loss_scale;        /* 1 without fp16 */
    int fp16;                 /* show the loss scale in the progress line */
    double peak_flops;        /* one device's peak FLOP/s; 0: unknown, no MFU */
} ReportState;

typedef struct {
    FILE *log, *jsonl;
    TfEvents *tb;               /* NULL: no TensorBoard output */
    double t_interval;          /* start of the current reporting interval */
    long long steps, images;    /* in the interval */
    double loss_sum, flops, data_wait, host_prepare;
    long long skipped;
    double grad_norm;           /* of the interval's last step */
} TrainLog;

/* Opens log.txt and metrics.jsonl (appending), and with tensorboard a new event file, in
 * experiment_dir. */
int train_log_open(TrainLog *p, const char *experiment_dir, int tensorboard, Error *e);
void train_log_close(TrainLog *p);

/* One finished optimizer step. */
void train_log_step(TrainLog *p, const StepStats *s);

/* The progress line, JSON record and TensorBoard scalars for the interval since the last report;
 * resets it. */
void train_log_report(TrainLog *p, const ReportState *r);

/* A PNG image into the TensorBoard file (no-op without one). */
void train_log_image(TrainLog *p, long long step, const char *tag, const void *png, size_t len, int height, int width,
                     int channels);

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

/* Leave `seconds` of work that is not training (a sample grid) out of the interval's rates. */
void train_log_pause(TrainLog *p, double seconds);

/* Restart the interval clock (after a checkpoint write, which is not training time). */
void train_log_restart_clock(TrainLog *p);

#endif
