/* Doubles as text for people and for JSON. */
#ifndef MASKDIT_FORMAT_DOUBLE_H
#define MASKDIT_FORMAT_DOUBLE_H

#include <stddef.h>

/* The shortest decimal text (15 to 17 significant digits) that reads back as exactly v:
 * 0.1 -> "0.1", 1e-6 -> "1e-06", 4.0 -> "4". */
void format_double(double v, char *buf, size_t len);

#endif
