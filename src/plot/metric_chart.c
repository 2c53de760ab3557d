#include "metric_chart.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "canvas.h"

/* The number after `"key": ` in a JSON line; 0 when absent or not a number (null). */
static int number_after(const char *line, const char *key, double *out) {
    size_t len = strlen(key) + 5;
    char *pattern = xmalloc(len, "metric name");
    snprintf(pattern, len, "\"%s\": ", key);
    const char *p = strstr(line, pattern);
    size_t skip = strlen(pattern);
    free(pattern);
    if (!p) return 0;
    char *end;
    *out = strtod(p + skip, &end);
    return end != p + skip && isfinite(*out);
}

/* The experiment's name: the directory of <exp>/metrics.jsonl, else the file name. */
static char *label_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strcmp(base, "metrics.jsonl") || base == path) return xstrdup(base);
    const char *dir_end = base - 1, *dir = dir_end;
    while (dir > path && dir[-1] != '/') dir--;
    size_t n = (size_t)(dir_end - dir);
    if (n == 0 || (n == 1 && dir[0] == '.')) return xstrdup(base);
    char *out = xmalloc(n + 1, "run name");
    memcpy(out, dir, n);
    out[n] = 0;
    return out;
}

int read_train_metric(const char *path, const char *key, Series *out, Error *e) {
    FILE *f = fopen(path, "r");
    if (!f) return error_set(e, "cannot read %s: %s", path, strerror(errno));
    int cap = 1024, k = 0;
    double *s = xmalloc((size_t)cap * sizeof *s, "metric curve"), *v = xmalloc((size_t)cap * sizeof *v, "metric curve");
    char *line = NULL;   /* records of any length (a start record holds the library versions) */
    size_t line_cap = 0;
    int records = 0;
    while (getline(&line, &line_cap, f) >= 0) {
        double step, value;
        if (!strstr(line, "\"event\": \"train\"") || !number_after(line, "step", &step)) continue;
        records++;
        if (!number_after(line, key, &value)) continue;
        while (k > 0 && s[k - 1] >= step) k--;   /* a resumed run logs these steps again */
        if (k == cap) {
            cap *= 2;
            s = xrealloc(s, (size_t)cap * sizeof *s, "metric curve");
            v = xrealloc(v, (size_t)cap * sizeof *v, "metric curve");
        }
        s[k] = step, v[k++] = value;
    }
    int bad = ferror(f);
    free(line);
    fclose(f);
    if (bad || k == 0) {
        free(s), free(v);
        if (bad) return error_set(e, "cannot read %s: read error", path);
        if (records == 0) return error_set(e, "%s holds no training records", path);
        return error_set(e, "%s: none of its %d training records has a number \"%s\" (metrics.jsonl fields: loss, "
                            "grad_norm, lr, steps_per_sec, images_per_sec, mfu, ...; docs/maskdit-train.md)",
                         path, records, key);
    }
    *out = (Series){label_of(path), s, v, k};
    return 0;
}

void series_free(Series *s) {
    free(s->label), free(s->steps), free(s->values);
    *s = (Series){0};
}

/* 1, 2 or 5 times a power of ten, about range/5. */
static double tick_step(double range) {
    double raw = range / 5, p = pow(10, floor(log10(raw)));
    return raw / p < 1.5 ? p : raw / p < 3.5 ? 2 * p : raw / p < 7.5 ? 5 * p : 10 * p;
}

/* A tick label with as many decimals as the tick step needs (0.05 -> 2), big numbers as 1.2e+09. */
static void tick_label(char *buf, size_t len, double v, double step) {
    if (fabs(v) >= 1e6 || (step < 1e-4 && v != 0)) snprintf(buf, len, "%.2g", v);
    else snprintf(buf, len, "%.*f", step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9), v);
}

/* Running mean over about n/25 records, so that the trend shows through the noise. */
static double *running_mean(const Series *s) {
    int win = MAX(1, s->n / 25);
    double *mean = xmalloc((size_t)s->n * sizeof *mean, "smoothed curve"), acc = 0;
    for (int i = 0; i < s->n; i++) {
        acc += s->values[i] - (i >= win ? s->values[i - win] : 0);
        mean[i] = acc / MIN(i + 1, win);
    }
    return mean;
}

static Color lighter(Color c) { return (Color){(uint8_t)(c.r + (255 - c.r) * 2 / 3), (uint8_t)(c.g + (255 - c.g) * 2 / 3), (uint8_t)(c.b + (255 - c.b) * 2 / 3)}; }

int metric_chart_png(const Series *s, int n_series, const char *title, const char *path, Error *e) {
    const int W = 800, H = 480, left = 80, right = 20, top = 40, bottom = 50;
    const Color white = {255, 255, 255}, black = {0, 0, 0}, gray = {190, 190, 190}, grid = {235, 235, 235};
    static const Color palette[] = {{30, 90, 200},  {230, 120, 20}, {40, 150, 60},  {200, 40, 40},  {140, 80, 180},
                                    {140, 90, 60},  {220, 100, 180}, {100, 100, 100}, {160, 160, 30}, {20, 170, 190}};
    double **mean = xmalloc((size_t)n_series * sizeof *mean, "smoothed curves");
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY, m0 = INFINITY, m1 = -INFINITY;
    for (int r = 0; r < n_series; r++) {
        mean[r] = running_mean(&s[r]);
        x0 = fmin(x0, s[r].steps[0]), x1 = fmax(x1, s[r].steps[s[r].n - 1]);
        for (int i = 0; i < s[r].n; i++) {
            y0 = fmin(y0, s[r].values[i]), y1 = fmax(y1, s[r].values[i]);
            m0 = fmin(m0, mean[r][i]), m1 = fmax(m1, mean[r][i]);
        }
    }
    if (x1 <= x0) x1 = x0 + 1;
    /* the very first losses are far above the rest: scale to the smoothed curves' range */
    y1 = fmin(y1, m1 + (m1 - m0) * 0.5 + 1e-9 * fmax(1, fabs(m1)));
    if (y1 <= y0) y1 = y0 + 1e-3 * fmax(1, fabs(y0));
    double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    Canvas c;
    canvas_init(&c, W, H, white);
    int pw = W - left - right, ph = H - top - bottom;
#define PX(x) (left + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (top + ph - ((fmin(y, y1)) - y0) / (y1 - y0) * ph)
    char label[32];
    double ys = tick_step(y1 - y0), xs = tick_step(x1 - x0);
    for (double y = ceil(y0 / ys) * ys; y <= y1; y += ys) {
        canvas_line(&c, left, PY(y), left + pw, PY(y), 1, grid);
        tick_label(label, sizeof label, fabs(y) < ys * 1e-6 ? 0 : y, ys);
        canvas_text(&c, left - 8 - canvas_text_width(label, 1), (int)PY(y) - 3, label, 1, black);
    }
    for (double x = ceil(x0 / xs) * xs; x <= x1; x += xs) {
        canvas_line(&c, PX(x), top, PX(x), top + ph, 1, grid);
        snprintf(label, sizeof label, "%.0f", x);
        canvas_text(&c, (int)PX(x) - canvas_text_width(label, 1) / 2, top + ph + 8, label, 1, black);
    }
    for (int r = 0; r < n_series; r++) {
        Color col = palette[r % ARRAY_LEN(palette)], raw = n_series == 1 ? gray : lighter(col);
        const double *st = s[r].steps, *v = s[r].values;
        for (int i = 1; i < s[r].n; i++) canvas_line(&c, PX(st[i - 1]), PY(v[i - 1]), PX(st[i]), PY(v[i]), 1, raw);
    }
    for (int r = 0; r < n_series; r++) {
        Color col = palette[r % ARRAY_LEN(palette)];
        const double *st = s[r].steps, *m = mean[r];
        for (int i = 1; i < s[r].n; i++) canvas_line(&c, PX(st[i - 1]), PY(m[i - 1]), PX(st[i]), PY(m[i]), 3, col);
    }
    canvas_line(&c, left, top, left, top + ph, 1, black);
    canvas_line(&c, left, top + ph, left + pw, top + ph, 1, black);
    if (n_series > 1) {   /* the legend, top right inside the plot: a swatch and the run's name per line */
        int wmax = 0;
        for (int r = 0; r < n_series; r++) wmax = MAX(wmax, canvas_text_width(s[r].label, 1));
        int lx = left + pw - wmax - 40, ly = top + 6;
        canvas_fill_rect(&c, lx - 6, ly - 4, left + pw - 4, ly + 12 * n_series, white);
        for (int r = 0; r < n_series; r++) {
            Color col = palette[r % ARRAY_LEN(palette)];
            canvas_line(&c, lx, ly + 12 * r + 3, lx + 20, ly + 12 * r + 3, 3, col);
            canvas_text(&c, lx + 26, ly + 12 * r, s[r].label, 1, black);
        }
    }
    canvas_text(&c, (W - canvas_text_width(title, 2)) / 2, 10, title, 2, black);
    canvas_text(&c, left + pw / 2 - canvas_text_width("step", 2) / 2, H - 22, "step", 2, black);
#undef PX
#undef PY
    int rc = canvas_write_png(&c, path, e);
    canvas_free(&c);
    for (int r = 0; r < n_series; r++) free(mean[r]);
    free(mean);
    return rc;
}
