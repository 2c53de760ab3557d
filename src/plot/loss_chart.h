/* The demo's loss curve: the losses of metrics.jsonl against the step, as a PNG line chart. */
#ifndef MASKDIT_PLOT_LOSS_CHART_H
#define MASKDIT_PLOT_LOSS_CHART_H

#include "../util/common.h"

/* The "train" records of a metrics.jsonl (src/train/train_log.h): steps and losses in step order.
 * When a resumed run logged a step again, its newer records replace the older ones from that step
 * on. Returns -1 with a message naming the file when it cannot be read or holds no record. */
int read_train_losses(const char *path, double **steps, double **losses, int *n, Error *e);

/* Raw losses in gray, a running mean in blue, axes with ticks; written as an RGB PNG. */
int loss_chart_png(const double *steps, const double *losses, int n, const char *title, const char *path, Error *e);

#endif
