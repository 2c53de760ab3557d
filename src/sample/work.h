/* What a maskdit-generate run samples: the list of images (seed, class) in output order, the
 * grid they form, and each rank's share.
 *
 * Classes (--class_idx):
 *   absent, conditional model   every seed gets a random class drawn from its own stream
 *                               (streams.h), so it is the same whoever samples it;
 *   absent, unconditional model no class (-1);
 *   one class                   every seed gets it;
 *   several classes             every (class, seed) pair is an image; the grid has one row per
 *                               class in the order given, one column per seed. The same seed
 *                               starts from the same noise in every row.
 * Output order is class-major: image i = (classes[i / n_seeds], seeds[i % n_seeds]). */
#ifndef MASKDIT_SAMPLE_WORK_H
#define MASKDIT_SAMPLE_WORK_H

#include <stdint.h>

typedef struct {
    uint32_t seed;
    int class_idx;           /* -1: no class (unconditional model) */
} SampleItem;

typedef struct {
    SampleItem *items;       /* count, in output order */
    long long count;
    long long n_seeds;
    int n_rows;              /* grid rows: the classes requested when several, else 0 (square grid) */
} SampleWork;

/* seeds[n_seeds]; classes[n_classes] (n_classes 0 = none requested); num_classes of the model.
 * Classes must already be checked against the model (0 <= c < num_classes). */
void sample_work_build(SampleWork *w, const long long *seeds, long long n_seeds, const long long *classes,
                       long long n_classes, int num_classes);
void sample_work_free(SampleWork *w);

/* The images [*begin, *end) that rank `rank` of `world` samples. The list is cut into batches of
 * `batch` images (the last may be smaller) independently of the world size, and each rank takes a
 * contiguous run of whole batches (the runs differ by at most one batch; in rank order they are
 * the output order). So every image is computed in the same batch, at the same position, whatever
 * the number of ranks: float results that depend on the batch shape (GEMM blocking) cannot differ
 * between rank counts. */
void sample_rank_share(long long count, int batch, int rank, int world, long long *begin, long long *end);

/* Grid layout of the first `shown` images: one row per class when several classes were
 * requested (shown = at most max_images / rows seeds of each), else a near-square grid of the
 * first max_images images. grid_index[k] (k < shown) is the item index of tile k, row-major. */
typedef struct {
    int rows, cols, shown;
    long long *grid_index;
} GridLayout;

void grid_layout(GridLayout *g, const SampleWork *w, int max_images);
void grid_layout_free(GridLayout *g);

#endif
