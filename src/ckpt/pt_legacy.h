/* The legacy torch.save layout (PyTorch before 1.6, and later with
 * _use_new_zipfile_serialization=False): one file holding, in a row,
 *   pickle(MAGIC_NUMBER 0x1950a86a20f9469cfc6c), pickle(PROTOCOL_VERSION 1001),
 *   pickle(sys_info: {"protocol_version", "little_endian", "type_sizes"}),
 *   pickle(the object; storages as persistent ids
 *          ("storage", torch.FloatStorage, key, location, numel, view_metadata)),
 *   pickle(the storage keys, sorted),
 * then for each key in that list: its element count (8-byte little-endian integer) and its raw
 * data (count x the element size of the storage's type). Storage views (view_metadata, written
 * by PyTorch < 0.4) are refused. */
#ifndef MASKDIT_PT_LEGACY_H
#define MASKDIT_PT_LEGACY_H

#include "pt_import.h"

/* Whether head[0, n) starts like a legacy file (the pickled magic number). */
int pt_legacy_magic(const unsigned char *head, size_t n);

typedef struct {
    Pickle *pickle;
    PkValue *root;
    PtStorage *storages;   /* in file order; keys and types point into the pickles */
    int count;
    Pickle *keys_pickle;   /* owns the storage keys */
    int truncated;         /* the file ends before the data of storages[count] (which are left out) */
} PtLegacy;

/* Parse the pickles of the open file fd (file_size bytes) and locate every storage's data. A
 * storage whose data does not lie inside the file ends the list, with `truncated` set, so that the
 * tensors that need it are refused by name. */
int pt_legacy_read(int fd, uint64_t file_size, const char *path, PtLegacy *out, Error *e);
void pt_legacy_free(PtLegacy *l);

#endif
