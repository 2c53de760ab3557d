#include "run_info.h"

#include <hdf5.h>
#include <string.h>

#include "../../mpi/library_versions.h"
#include "../backend/backend.h"
#include "../util/build_info.h"
#include "train_log.h"

/* Appends `"key": "value", ` (value quoted as JSON). */
static void member(char *out, size_t len, const char *key, const char *value) {
    char quoted[6 * 1024 + 3];   /* every byte escaped at worst */
    char cut[1024];
    snprintf(cut, sizeof cut, "%s", value);
    train_log_json_string(cut, quoted, sizeof quoted);
    text_append(out, len, "\"%s\": %s, ", key, quoted);
}

char *run_info_json(void) {
    size_t len = 16384;
    char *out = xmalloc(len, "run information");
    char text[1024];
    out[0] = 0;
    text_append(out, len, "{");
    member(out, len, "git_commit", build_git_commit());
    member(out, len, "build", build_settings());
    build_environment_switches(text, sizeof text);
    member(out, len, "environment", text);
    text_append(out, len, "\"libraries\": {");
    dist_mpi_version(text, sizeof text);
    member(out, len, "mpi", text);
    unsigned maj = 0, min = 0, rel = 0;
    if (H5get_libversion(&maj, &min, &rel) < 0) snprintf(text, sizeof text, "unknown");
    else snprintf(text, sizeof text, "%u.%u.%u", maj, min, rel);
    member(out, len, "hdf5", text);
    member(out, len, "openblas", backend_cpu_blas_version());
    backend_cuda_versions(text, sizeof text);
    if (text[0]) text_append(out, len, "%s, ", text);
    dist_nccl_version(text, sizeof text);
    if (text[0]) member(out, len, "nccl", text);
    out[strlen(out) - 2] = 0;   /* the last ", " */
    text_append(out, len, "}}");
    return out;
}
