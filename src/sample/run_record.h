/* The description of a sampling run: every setting that decides its numbers, one per line,
 *   key: value
 * in a fixed order, plus notes ("# ..." lines: the checkpoint's path, the seeds as given) that
 * help a reader but are not compared (a checkpoint copied elsewhere samples the same images).
 * Kept as DIR/.parts/run.txt next to the batch parts; a rerun compares its own description with
 * it before reusing any part. */
#ifndef MASKDIT_SAMPLE_RUN_RECORD_H
#define MASKDIT_SAMPLE_RUN_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "../util/common.h"

typedef struct {
    char *text;              /* NUL-terminated */
    size_t len, cap;
} RunRecord;

void run_record_init(RunRecord *r);
void run_record_free(RunRecord *r);
/* Appends "key: value" (printf-style value; keys without ':' or newlines, values without newlines). */
void run_record_set(RunRecord *r, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Appends "# note". */
void run_record_note(RunRecord *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* CRC-32 of the compared lines (notes left out): what every batch part records. */
uint32_t run_record_crc(const RunRecord *r);

/* Compares the settings of r with a recorded description (the text of run.txt). Returns 0 when
 * every setting is the same, else -1 with "KEY is VALUE in WHERE, VALUE now" for the first that
 * differs (or is missing on either side). */
int run_record_compare(const RunRecord *r, const char *recorded, const char *where, Error *e);

#endif
