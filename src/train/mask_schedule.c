#include "mask_schedule.h"

#include <math.h>
#include <string.h>

#include "../util/common.h"

/* K of "cosineK" / "cosK", or 0. */
static int cosine_power(const char *fn) {
    const char *k = !strncmp(fn, "cosine", 6) ? fn + 6 : !strncmp(fn, "cos", 3) ? fn + 3 : NULL;
    if (!k || k[0] < '2' || k[0] > '6' || k[1]) return 0;
    return k[0] - '0';
}

double mask_ratio_at(const char *fn, double ratio, double ratio_min, double progress) {
    double a = ratio - ratio_min;
    int k = cosine_power(fn);
    if (k) return a * pow(cos(M_PI * progress / 2), k) + ratio_min;
    if (!strcmp(fn, "exp")) return a * exp(-progress * 7) + ratio_min;
    if (!strcmp(fn, "linear")) return a * progress + ratio_min;
    if (!strcmp(fn, "constant")) return ratio;
    FATAL("unknown mask ratio schedule '%s'", fn);
}
