/* maskdit-plot METRICS.jsonl OUT.png [--title TEXT]
 *
 * Draws the training loss of a run (the "train" records of <experiment>/metrics.jsonl, written by
 * maskdit-train) as a PNG line chart: the logged losses in gray, their running mean in blue. */
#include <string.h>
#include <sys/stat.h>

#include "../../mpi/dist.h"
#include "../plot/loss_chart.h"

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv);
    const char *in = NULL, *out = NULL, *title = "training loss";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: maskdit-plot METRICS.jsonl OUT.png [--title TEXT]\n");
            dist_finalize(&d);
            return 0;
        } else if (!strcmp(argv[i], "--title")) {
            if (i + 1 >= argc) die("--title needs a value");
            title = argv[++i];
        } else if (argv[i][0] == '-') {
            die("unknown option '%s' (usage: maskdit-plot METRICS.jsonl OUT.png [--title TEXT])", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else if (!out) {
            out = argv[i];
        } else {
            die("unexpected argument '%s'", argv[i]);
        }
    }
    if (!in || !out) die("usage: maskdit-plot METRICS.jsonl OUT.png [--title TEXT]");
    struct stat si, so;   /* the chart would replace the run's only record of its losses */
    if (stat(in, &si) == 0 && stat(out, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        die("%s is both the metrics file and the output; give the chart another name, e.g. loss.png", out);
    Error e;
    double *steps, *losses;
    int n;
    if (read_train_losses(in, &steps, &losses, &n, &e) < 0) die("%s", e.msg);
    if (loss_chart_png(steps, losses, n, title, out, &e) < 0) die("%s", e.msg);
    printf("%s: %d points, steps %.0f to %.0f\n", out, n, steps[0], steps[n - 1]);
    free(steps);
    free(losses);
    dist_finalize(&d);
    return 0;
}
