#include "collect.h"

#include <string.h>

#include "../src/util/npz_out.h"

int collect_to_root(const Dist *d, const void *local, long long records, size_t record_bytes, CollectSink sink,
                    void *ctx, Error *e) {
    size_t per_piece = MAX((size_t)1, COLLECT_PIECE_BYTES / record_bytes) * record_bytes;
    unsigned long long mine = (unsigned long long)records * record_bytes;
    unsigned long long *sizes = d->rank == 0 ? xmalloc((size_t)d->world * sizeof *sizes, "collect sizes") : NULL;
    MPI_CHECK(MPI_Gather(&mine, 1, MPI_UNSIGNED_LONG_LONG, sizes, 1, MPI_UNSIGNED_LONG_LONG, 0, d->comm));
    int failed = 0;
    if (d->rank == 0) {
        for (size_t off = 0; off < mine && !failed; off += per_piece)
            failed = sink(ctx, (const char *)local + off, MIN(per_piece, mine - off), e) != 0;
        char *buf = xmalloc(per_piece, "collect buffer");
        for (int r = 1; r < d->world; r++)
            for (unsigned long long off = 0; off < sizes[r]; off += per_piece) {
                int n = (int)MIN((unsigned long long)per_piece, sizes[r] - off);
                MPI_CHECK(MPI_Recv(buf, n, MPI_BYTE, r, 0, d->comm, MPI_STATUS_IGNORE));
                if (!failed) failed = sink(ctx, buf, (size_t)n, e) != 0;
            }
        free(buf);
        free(sizes);
    } else {
        for (size_t off = 0; off < mine; off += per_piece)
            MPI_CHECK(MPI_Send((const char *)local + off, (int)MIN(per_piece, mine - off), MPI_BYTE, 0, 0, d->comm));
    }
    /* Every rank learns whether rank 0's sink failed, and why. */
    return dist_agree(d, failed ? -1 : 0, e);
}

void collect_npz(const Dist *d, const void *local, long long n_local, const char *descr, size_t elem,
                 const long long shape[4], const char *path) {
    NpzOut npz;
    Error e = {{0}};
    if (d->rank == 0 && npz_out_open(&npz, path, descr, 4, shape, elem, &e)) die("%s", e.msg);
    size_t record = (size_t)shape[1] * shape[2] * shape[3] * elem;
    if (collect_to_root(d, local, n_local, record, npz_out_sink, &npz, &e)) {
        if (d->rank == 0) npz_out_abort(&npz);
        die("%s", e.msg);
    }
    if (d->rank == 0) {
        if (npz_out_close(&npz, &e)) die("%s", e.msg);
        info("wrote %s (arr_0: %s %lldx%lldx%lldx%lld)", path, descr, shape[0], shape[1], shape[2], shape[3]);
    }
}
