/* Numbers as text: read from command lines and environment variables, and floats printed as
 * Python prints them. */
#ifndef MASKDIT_NUMTEXT_H
#define MASKDIT_NUMTEXT_H

#include "common.h"

/* Flags and variables are checked whole (no trailing characters, no overflow); the messages name
 * `what` (the flag or variable) and what was expected:
 *   --batch: expected a whole number from 1 to 1048576, got '8x'
 *   --cfg_scale: expected a number, got 'strong' */

/* A decimal integer in [min, max] (max LLONG_MAX: no upper bound). */
int parse_whole(const char *what, const char *text, long long min, long long max, long long *out, Error *e);

/* A number as strtod reads it ("0.5", "2e-4", "inf"); NaN is refused. Ranges are the caller's. */
int parse_number(const char *what, const char *text, double *out, Error *e);

/* Python's repr() of a float (shortest round-trip form: 0.0001, 5e-05, 0.5, 1.0, inf, nan), as
 * the original's f-strings print config values. */
void format_py_float(double v, char *buf, size_t len);

#endif
