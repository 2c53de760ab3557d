/* Numbers given as text on command lines and in environment variables, checked whole: no trailing
 * characters, no overflow. The messages name `what` (the flag or variable) and what was expected:
 *   --batch: expected a whole number from 1 to 1048576, got '8x'
 *   --cfg_scale: expected a number, got 'strong' */
#ifndef MASKDIT_NUMPARSE_H
#define MASKDIT_NUMPARSE_H

#include "common.h"

/* A decimal integer in [min, max] (max LLONG_MAX: no upper bound). */
int parse_whole(const char *what, const char *text, long long min, long long max, long long *out, Error *e);

/* A number as strtod reads it ("0.5", "2e-4", "inf"); NaN is refused. Ranges are the caller's. */
int parse_number(const char *what, const char *text, double *out, Error *e);

#endif
