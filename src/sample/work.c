#include "work.h"

#include <math.h>

#include "../util/common.h"
#include "streams.h"

void sample_work_build(SampleWork *w, const long long *seeds, long long n_seeds, const long long *classes,
                       long long n_classes, int num_classes) {
    long long rows = n_classes > 1 ? n_classes : 1;
    w->count = rows * n_seeds;
    w->n_seeds = n_seeds;
    w->n_rows = n_classes > 1 ? (int)n_classes : 0;
    w->items = xmalloc((size_t)w->count * sizeof *w->items, "sample list");
    for (long long r = 0; r < rows; r++)
        for (long long s = 0; s < n_seeds; s++) {
            SampleItem *it = &w->items[r * n_seeds + s];
            it->seed = (uint32_t)seeds[s];
            if (n_classes > 0) it->class_idx = (int)classes[r];
            else if (num_classes > 0) it->class_idx = sample_random_class(it->seed, num_classes);
            else it->class_idx = -1;
        }
}

void sample_work_free(SampleWork *w) {
    free(w->items);
    w->items = NULL;
}

void sample_rank_share(long long count, int batch, int rank, int world, long long *begin, long long *end) {
    long long batches = (count + batch - 1) / batch;
    *begin = MIN(count, batches * rank / world * batch);
    *end = MIN(count, batches * (rank + 1) / world * batch);
}

void grid_layout(GridLayout *g, const SampleWork *w, int max_images) {
    if (w->n_rows > 0) {
        g->rows = w->n_rows;
        g->cols = (int)MIN(w->n_seeds, (long long)MAX(1, max_images / w->n_rows));
    } else {
        long long n = MIN(w->count, (long long)max_images);
        g->cols = (int)ceil(sqrt((double)n));
        g->rows = (int)((n + g->cols - 1) / g->cols);
    }
    g->grid_index = xmalloc((size_t)g->rows * g->cols * sizeof *g->grid_index, "grid layout");
    g->shown = 0;
    for (int r = 0; r < g->rows; r++)
        for (int c = 0; c < g->cols; c++) {
            long long i = w->n_rows > 0 ? r * w->n_seeds + c : (long long)r * g->cols + c;
            if (i < w->count) g->grid_index[g->shown++] = i;
        }
}

void grid_layout_free(GridLayout *g) {
    free(g->grid_index);
    g->grid_index = NULL;
}
