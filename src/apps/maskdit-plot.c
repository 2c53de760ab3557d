/* maskdit-plot METRICS.jsonl [METRICS.jsonl ...] OUT.png [--metric NAME] [--title TEXT]
 *
 * Draws a training metric (default: the loss) of one run, or of several runs on one chart with a
 * legend, from the "train" records of <experiment>/metrics.jsonl (written by maskdit-train) as a
 * PNG line chart: the logged values thin, their running mean thick. The last file named is the
 * output. */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "../../mpi/dist.h"
#include "../plot/metric_chart.h"
#include "../util/options.h"

static const char *USAGE =
    "usage: maskdit-plot METRICS.jsonl [METRICS.jsonl ...] OUT.png [--metric NAME] [--title TEXT]\n"
    "  --metric NAME   a number of the \"train\" records: loss (default), grad_norm, lr, steps_per_sec,\n"
    "                  images_per_sec, mfu, loss_scale, data_wait_sec, host_prepare_sec, ...\n"
    "  --title TEXT    the chart's title (default: the metric)\n"
    "Several metrics files draw one curve per run, named in a legend after their directory.\n";

static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv);
    enum { TITLE, METRIC };
    static const OptionSpec options[] = {{"--title", OPTION_TAKES_VALUE, TITLE}, {"--metric", OPTION_TAKES_VALUE, METRIC}};
    OptionParser p = option_parser(argc, argv, options, ARRAY_LEN(options), "maskdit-plot", INT_MAX);
    const char **files = xmalloc((size_t)argc * sizeof *files, "file list"), *title = NULL, *metric = "loss", *v;
    int n_files = 0;
    Error e;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        if (id == OPTION_HELP) {
            fputs(USAGE, stdout);
            dist_finalize(&d);
            return 0;
        }
        if (id == OPTION_ERROR) die("%s", e.msg);
        if (id == OPTION_POSITIONAL) files[n_files++] = v;
        else if (id == TITLE) title = v;
        else metric = v;
    }
    if (n_files < 2) die("%s", USAGE);
    const char *out = files[--n_files];
    /* the chart would replace a run's only record of its metrics */
    if (ends_with(out, ".jsonl"))
        die("%s: the last file named is the chart to write, and this looks like a metrics file; name the PNG last, "
            "e.g. loss.png", out);
    for (int i = 0; i < n_files; i++)
        if (same_file(files[i], out))
            die("%s is both the metrics file and the output; give the chart another name, e.g. loss.png", out);
    if (!title) title = strcmp(metric, "loss") ? metric : "training loss";
    Series *s = xcalloc((size_t)n_files, sizeof *s, "runs");
    for (int i = 0; i < n_files; i++)
        if (read_train_metric(files[i], metric, &s[i], &e) < 0) die("%s", e.msg);
    if (metric_chart_png(s, n_files, title, out, &e) < 0) die("%s", e.msg);
    for (int i = 0; i < n_files; i++) {
        printf("%s: %d points, steps %.0f to %.0f (%s of %s)\n", out, s[i].n, s[i].steps[0], s[i].steps[s[i].n - 1],
               metric, s[i].label);
        series_free(&s[i]);
    }
    free(s);
    free(files);
    dist_finalize(&d);
    return 0;
}
