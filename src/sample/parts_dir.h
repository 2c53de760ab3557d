/* Resumable sampling, the directory of batch parts DIR/.parts (parts.h): it belongs to one run,
 * described in DIR/.parts/run.txt (run_record.h). A run that finds parts of a run with other
 * settings refuses to mix them in; --fresh discards them. */
#ifndef MASKDIT_SAMPLE_PARTS_DIR_H
#define MASKDIT_SAMPLE_PARTS_DIR_H

#include "../../mpi/dist.h"
#include "parts.h"
#include "run_record.h"

#define RUN_RECORD_FILE "run.txt"

/* Collective. Rank 0 makes DIR/.parts ready for the run described by r: with fresh it first
 * removes what an earlier run left there; a run.txt that differs from r, or parts without a
 * run.txt, end the job with a message naming the directory, the first differing setting and
 * --fresh; leftover temporary files (a write that was killed) are removed; run.txt is written
 * when absent. Sets ps->dir and ps->run_crc on every rank. */
void parts_dir_prepare(const Dist *d, const char *results_dir, const RunRecord *r, int fresh, PartStore *ps);

/* Once the outputs are complete (rank 0): removes the parts, run.txt and the directory. */
void parts_dir_remove(const PartStore *ps);

#endif
