/* Arrays of the small golden .npz files committed under tests/golden (written by NumPy's savez,
 * uncompressed), for the unit tests. */
#ifndef MASKDIT_TEST_NPZ_GOLDEN_H
#define MASKDIT_TEST_NPZ_GOLDEN_H

#include <string.h>

#include "../../src/util/npy.h"
#include "../../src/util/zip.h"
#include "test.h"

/* A malloc'd copy of array `key` of the .npz at path, which must be of dtype descr ("<f8", "<f4")
 * with count elements; NULL after a failed check naming what was wrong. */
static inline void *npz_golden(const char *path, const char *key, const char *descr, long long count) {
    char entry[128];
    snprintf(entry, sizeof entry, "%s.npy", key);
    Error e = {{0}};
    ZipReader *z = zip_open(path, &e);
    const ZipEntry *en = z ? zip_find(z, entry) : NULL;
    void *data = NULL, *out = NULL;
    size_t len = 0;
    NpyHeader h;
    if (en && zip_read(z, en, &data, &len, &e) == 0 && npy_parse_header(data, len, entry, &h, &e) == 0 &&
        strcmp(h.descr, descr) == 0 && npy_count(&h) == count) {
        out = malloc((size_t)count * h.elem_size);
        memcpy(out, (char *)data + h.header_bytes, (size_t)count * h.elem_size);
    } else {
        CHECK(0, "%s: %s: not a %s array of %lld elements (%s)", path, entry, descr, count, e.msg);
    }
    free(data);
    if (z) zip_close(z);
    return out;
}

#endif
