/* The sample list: random classes owned by the seed, class-grid order, the rank split into whole
 * batches that do not depend on the world size, and the grid layout. */
#include <string.h>

#include "../../src/sample/work.h"
#include "../../src/util/common.h"
#include "test.h"

static void random_classes_belong_to_the_seed(void) {
    long long many[200], one[1] = {137};
    for (int i = 0; i < 200; i++) many[i] = i;
    SampleWork a, b;
    sample_work_build(&a, many, 200, NULL, 0, 10);
    sample_work_build(&b, one, 1, NULL, 0, 10);
    CHECK(a.count == 200 && a.n_rows == 0, "count %lld rows %d", a.count, a.n_rows);
    CHECK(b.items[0].class_idx == a.items[137].class_idx, "seed 137: class %d alone, %d in a list",
          b.items[0].class_idx, a.items[137].class_idx);
    int seen[10] = {0};
    for (int i = 0; i < 200; i++) {
        CHECK(a.items[i].class_idx >= 0 && a.items[i].class_idx < 10, "class %d", a.items[i].class_idx);
        if (a.items[i].class_idx >= 0 && a.items[i].class_idx < 10) seen[a.items[i].class_idx]++;
    }
    for (int c = 0; c < 10; c++) CHECK(seen[c] > 5, "class %d drawn %d times in 200", c, seen[c]);
    sample_work_free(&a);
    sample_work_free(&b);
    /* unconditional: no class */
    sample_work_build(&a, one, 1, NULL, 0, 0);
    CHECK(a.items[0].class_idx == -1, "class %d", a.items[0].class_idx);
    sample_work_free(&a);
}

static void class_lists_make_class_major_rows(void) {
    long long seeds[3] = {8, 2, 5}, classes[2] = {7, 1}, single[1] = {4};
    SampleWork w;
    sample_work_build(&w, seeds, 3, classes, 2, 10);
    CHECK(w.count == 6 && w.n_rows == 2, "count %lld rows %d", w.count, w.n_rows);
    for (int i = 0; i < 6; i++)
        CHECK(w.items[i].seed == (uint32_t)seeds[i % 3] && w.items[i].class_idx == classes[i / 3], "item %d: %u/%d", i,
              w.items[i].seed, w.items[i].class_idx);
    GridLayout g;
    grid_layout(&g, &w, 1024);
    CHECK(g.rows == 2 && g.cols == 3 && g.shown == 6, "grid %dx%d shown %d", g.rows, g.cols, g.shown);
    for (int k = 0; k < g.shown; k++) CHECK(g.grid_index[k] == k, "tile %d shows %lld", k, g.grid_index[k]);
    grid_layout_free(&g);
    /* a grid too large keeps every class row and cuts the columns */
    grid_layout(&g, &w, 4);
    CHECK(g.rows == 2 && g.cols == 2 && g.shown == 4, "grid %dx%d shown %d", g.rows, g.cols, g.shown);
    CHECK(g.grid_index[2] == 3 && g.grid_index[3] == 4, "second row starts at %lld", g.grid_index[2]);
    grid_layout_free(&g);
    sample_work_free(&w);
    /* one class: every seed gets it; square grid */
    sample_work_build(&w, seeds, 3, single, 1, 10);
    CHECK(w.count == 3 && w.n_rows == 0 && w.items[2].class_idx == 4, "single class");
    grid_layout(&g, &w, 1024);
    CHECK(g.rows == 2 && g.cols == 2 && g.shown == 3, "grid %dx%d shown %d", g.rows, g.cols, g.shown);
    grid_layout_free(&g);
    sample_work_free(&w);
}

/* Every world size cuts the same batches: each rank's share is whole batches of the global list,
 * the shares tile the list in rank order and differ by at most one batch. */
static void rank_shares_are_whole_global_batches(void) {
    const long long counts[] = {1, 7, 10, 64, 65, 1000};
    const int batches[] = {1, 3, 32};
    for (size_t ci = 0; ci < ARRAY_LEN(counts); ci++)
        for (size_t bi = 0; bi < ARRAY_LEN(batches); bi++)
            for (int world = 1; world <= 9; world++) {
                long long count = counts[ci], next = 0, most = 0, least = count;
                int B = batches[bi];
                for (int r = 0; r < world; r++) {
                    long long b, e;
                    sample_rank_share(count, B, r, world, &b, &e);
                    CHECK(b == next, "count %lld B %d world %d rank %d starts at %lld, not %lld", count, B, world, r,
                          b, next);
                    CHECK(b % B == 0 && (e % B == 0 || e == count), "rank %d: [%lld, %lld) not whole batches", r, b, e);
                    next = e;
                    long long nb = (e - b + B - 1) / B;
                    most = MAX(most, nb);
                    least = MIN(least, nb);
                }
                CHECK(next == count, "count %lld world %d: shares end at %lld", count, world, next);
                CHECK(most - least <= 1, "count %lld B %d world %d: %lld vs %lld batches", count, B, world, most, least);
            }
}

int main(void) {
    RUN(random_classes_belong_to_the_seed);
    RUN(class_lists_make_class_major_rows);
    RUN(rank_shares_are_whole_global_batches);
    return test_summary();
}
