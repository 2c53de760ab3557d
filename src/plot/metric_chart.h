/* Charts of training metrics: any number of the "train" records of metrics.jsonl
 * (src/train/train_log.h) against the step, for one run or several on one chart, as a PNG. */
#ifndef MASKDIT_PLOT_METRIC_CHART_H
#define MASKDIT_PLOT_METRIC_CHART_H

#include "../util/common.h"

/* One run's curve. */
typedef struct {
    char *label;        /* the legend's text: the run (experiment directory) name */
    double *steps, *values;
    int n;
} Series;

/* The number `key` ("loss", "grad_norm", ...) of the "train" records of a metrics.jsonl, in step
 * order; records without it, or with null (a gradient norm of an fp16 overflow), are left out.
 * When a resumed run logged a step again, its newer records replace the older ones from that step
 * on. The label is the name of the file's directory (the experiment), or the file's name when it
 * is not called metrics.jsonl. Returns -1 with a message naming the file and the key when it
 * cannot be read or holds no such record. */
int read_train_metric(const char *path, const char *key, Series *s, Error *e);
void series_free(Series *s);

/* One series: the raw values in gray and a running mean in blue. Several: each run in its own
 * color (raw values thin and light, the running mean thick) with a legend. Axes with ticks;
 * written as an RGB PNG. */
int metric_chart_png(const Series *s, int n_series, const char *title, const char *path, Error *e);

#endif
