/* Integer lists as the original's command lines write them: "0-63,100" = 0, 1, ..., 63, 100
 * (comma-separated values and inclusive ranges), used by --seeds and --class_idx. */
#ifndef MASKDIT_SAMPLE_INTLIST_H
#define MASKDIT_SAMPLE_INTLIST_H

#include "../util/common.h"

/* Parse text into a malloc'ed array (*out, *count >= 1) of values in [lo, hi], in the order
 * written. Refused with a message naming the option: an empty list or item, a non-number, a
 * descending range, a value out of [lo, hi], a value listed twice, more than max_count values. */
int intlist_parse(const char *option, const char *text, long long lo, long long hi, long long max_count,
                  long long **out, long long *count, Error *e);

#endif
