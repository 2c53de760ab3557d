#include "loss_chart.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "canvas.h"

static int number_after(const char *line, const char *key, double *out) {
    const char *p = strstr(line, key);
    if (!p) return 0;
    char *end;
    *out = strtod(p + strlen(key), &end);
    return end != p + strlen(key);
}

int read_train_losses(const char *path, double **steps, double **losses, int *n, Error *e) {
    FILE *f = fopen(path, "r");
    if (!f) return error_set(e, "cannot read %s: %s", path, strerror(errno));
    int cap = 1024, k = 0;
    double *s = xmalloc((size_t)cap * sizeof *s, "loss curve"), *l = xmalloc((size_t)cap * sizeof *l, "loss curve");
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        double step, loss;
        if (!strstr(line, "\"event\": \"train\"") || !number_after(line, "\"step\": ", &step) ||
            !number_after(line, "\"loss\": ", &loss))
            continue;
        while (k > 0 && s[k - 1] >= step) k--;   /* a resumed run logs these steps again */
        if (k == cap) {
            cap *= 2;
            s = xrealloc(s, (size_t)cap * sizeof *s, "loss curve");
            l = xrealloc(l, (size_t)cap * sizeof *l, "loss curve");
        }
        s[k] = step, l[k++] = loss;
    }
    fclose(f);
    if (k == 0) {
        free(s), free(l);
        return error_set(e, "%s holds no training records", path);
    }
    *steps = s, *losses = l, *n = k;
    return 0;
}

/* 1, 2 or 5 times a power of ten, about range/5. */
static double tick_step(double range) {
    double raw = range / 5, p = pow(10, floor(log10(raw)));
    return raw / p < 1.5 ? p : raw / p < 3.5 ? 2 * p : raw / p < 7.5 ? 5 * p : 10 * p;
}

int loss_chart_png(const double *steps, const double *losses, int n, const char *title, const char *path, Error *e) {
    const int W = 800, H = 480, left = 70, right = 20, top = 40, bottom = 50;
    const Color white = {255, 255, 255}, black = {0, 0, 0}, gray = {190, 190, 190}, grid = {235, 235, 235},
                blue = {30, 90, 200};
    /* running mean over about n/25 records, so that the trend shows through the noise */
    int win = MAX(1, n / 25);
    double *mean = xmalloc((size_t)n * sizeof *mean, "smoothed loss"), acc = 0;
    for (int i = 0; i < n; i++) {
        acc += losses[i] - (i >= win ? losses[i - win] : 0);
        mean[i] = acc / MIN(i + 1, win);
    }
    double x0 = steps[0], x1 = steps[n - 1] > x0 ? steps[n - 1] : x0 + 1;
    double y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) y0 = fmin(y0, losses[i]), y1 = fmax(y1, losses[i]);
    /* the very first losses are far above the rest: scale to the smoothed curve's range */
    double m0 = INFINITY, m1 = -INFINITY;
    for (int i = 0; i < n; i++) m0 = fmin(m0, mean[i]), m1 = fmax(m1, mean[i]);
    y1 = fmin(y1, m1 + (m1 - m0) * 0.5 + 1e-9);
    if (y1 <= y0) y1 = y0 + 1e-3;
    double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    Canvas c;
    canvas_init(&c, W, H, white);
    int pw = W - left - right, ph = H - top - bottom;
#define PX(x) (left + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (top + ph - ((y) - y0) / (y1 - y0) * ph)
    char label[32];
    double ys = tick_step(y1 - y0), xs = tick_step(x1 - x0);
    for (double y = ceil(y0 / ys) * ys; y <= y1; y += ys) {
        canvas_line(&c, left, PY(y), left + pw, PY(y), 1, grid);
        snprintf(label, sizeof label, ys < 0.01 ? "%.3f" : "%.2f", y);
        canvas_text(&c, left - 8 - canvas_text_width(label, 1), (int)PY(y) - 3, label, 1, black);
    }
    for (double x = ceil(x0 / xs) * xs; x <= x1; x += xs) {
        canvas_line(&c, PX(x), top, PX(x), top + ph, 1, grid);
        snprintf(label, sizeof label, "%.0f", x);
        canvas_text(&c, (int)PX(x) - canvas_text_width(label, 1) / 2, top + ph + 8, label, 1, black);
    }
    for (int i = 1; i < n; i++)
        canvas_line(&c, PX(steps[i - 1]), PY(fmin(losses[i - 1], y1)), PX(steps[i]), PY(fmin(losses[i], y1)), 1, gray);
    for (int i = 1; i < n; i++) canvas_line(&c, PX(steps[i - 1]), PY(mean[i - 1]), PX(steps[i]), PY(mean[i]), 3, blue);
    canvas_line(&c, left, top, left, top + ph, 1, black);
    canvas_line(&c, left, top + ph, left + pw, top + ph, 1, black);
    canvas_text(&c, (W - canvas_text_width(title, 2)) / 2, 10, title, 2, black);
    canvas_text(&c, left + pw / 2 - canvas_text_width("step", 2) / 2, H - 22, "step", 2, black);
#undef PX
#undef PY
    int rc = canvas_write_png(&c, path, e);
    canvas_free(&c);
    free(mean);
    return rc;
}
