/* maskdit-plot METRICS.jsonl OUT.png [--title TEXT]
 *
 * Draws the training loss of a run (the "train" records of <experiment>/metrics.jsonl, written by
 * maskdit-train) as a PNG line chart: the logged losses in gray, their running mean in blue. */
#include <string.h>
#include <sys/stat.h>

#include "../../mpi/dist.h"
#include "../plot/loss_chart.h"
#include "../util/options.h"

int main(int argc, char **argv) {
    Dist d;
    dist_init(&d, &argc, &argv);
    const char *in = NULL, *out = NULL, *title = "training loss";
    static const OptionSpec options[] = {{"--title", OPTION_TAKES_VALUE, 0}};
    OptionParser p = option_parser(argc, argv, options, ARRAY_LEN(options), "maskdit-plot", 2);
    const char *v;
    Error e;
    for (int id; (id = option_next(&p, &v, &e)) != OPTION_END;) {
        if (id == OPTION_HELP) {
            printf("usage: maskdit-plot METRICS.jsonl OUT.png [--title TEXT]\n");
            dist_finalize(&d);
            return 0;
        }
        if (id == OPTION_ERROR) die("%s", e.msg);
        if (id == OPTION_POSITIONAL) *(in ? &out : &in) = v;
        else title = v;
    }
    if (!in || !out) die("usage: maskdit-plot METRICS.jsonl OUT.png [--title TEXT]");
    struct stat si, so;   /* the chart would replace the run's only record of its losses */
    if (stat(in, &si) == 0 && stat(out, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        die("%s is both the metrics file and the output; give the chart another name, e.g. loss.png", out);
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
