#include "format_double.h"

#include <stdio.h>
#include <stdlib.h>

void format_double(double v, char *buf, size_t len) {
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, len, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}
