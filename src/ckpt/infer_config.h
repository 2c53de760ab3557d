/* The model configuration a state dict was saved from, read off its tensor names and shapes. */
#ifndef MASKDIT_INFER_CONFIG_H
#define MASKDIT_INFER_CONFIG_H

#include "../model/model_config.h"
#include "tensor_match.h"

/* Starting from the defaults of the original, sets input_size (from the length of
 * model.pos_embed), patch_size and in_channels (model.x_embedder.proj.weight), hidden_size, depth
 * (blocks counted), mlp_ratio, num_classes (the label table; 0 without one),
 * frequency_embedding_size, use_decoder / decoder_hidden_size / decoder_depth, and mae_loss_coef
 * (0 when the decoder has no mask token). Attention heads leave no trace in the shapes:
 * num_heads and decoder_num_heads are set from dit_default_heads(), 0 where that has no answer.
 * Returns -1 naming the tensor that is missing or does not fit. */
int infer_model_config(TensorMeta *const *list, int n, ModelConfig *c, Error *e);

/* Heads of the original families for a width: 1152, 1024, 1280 -> 16; 768 -> 12; 384 -> 6; the
 * original decoder width 512 -> 16. 0 for any other width. */
int dit_default_heads(int width);

#endif
