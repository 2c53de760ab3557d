/* ModelConfig as a JSON object (the model_config attribute of checkpoints): every field under its
 * name in ModelConfig, booleans as true/false, an infinite sigma_max as the string "inf" (as in
 * the golden files' config). */
#ifndef MASKDIT_CONFIG_JSON_H
#define MASKDIT_CONFIG_JSON_H

#include "model_config.h"

/* malloc'ed, NUL-terminated JSON text. */
char *model_config_to_json(const ModelConfig *c);

#endif
