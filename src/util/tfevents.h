/* TensorBoard event files, written directly: what `tensorboard --logdir` shows and `wandb sync`
 * imports. The format (TensorFlow's TFRecord framing of Event protocol buffers):
 *   - each record: uint64 length, uint32 masked CRC32C of the length's 8 bytes, the data, uint32
 *     masked CRC32C of the data (little endian; masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8);
 *   - the data: one serialized tensorflow.Event {wall_time = 1 (double), step = 2 (int64),
 *     file_version = 3 (string) | summary = 5 (Summary)}; Summary {repeated Value value = 1};
 *     Value {tag = 1, simple_value = 2 (float) | image = 4 (Image)};
 *     Image {height = 1, width = 2, colorspace = 3, encoded_image_string = 4 (PNG bytes)};
 *   - the first record of a file is the Event with file_version "brain.Event:2".
 * A file is named events.out.tfevents.<unix seconds>.<host>.<pid>.<n>: every open makes a new one. */
#ifndef MASKDIT_TFEVENTS_H
#define MASKDIT_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct TfEvents TfEvents;

/* A new event file in dir (which must exist), with its file_version record. */
TfEvents *tfevents_open(const char *dir, Error *e);
/* The file's path. */
const char *tfevents_path(const TfEvents *w);

/* One event at step holding n scalars (tags[i] = values[i]); flushed to the file. */
int tfevents_scalars(TfEvents *w, long long step, const char *const *tags, const double *values, int n, Error *e);
/* One event at step holding an image: the bytes of a PNG of height x width with `channels` channels. */
int tfevents_image(TfEvents *w, long long step, const char *tag, const void *png, size_t png_len, int height,
                   int width, int channels, Error *e);
void tfevents_close(TfEvents *w);

/* CRC-32C (Castagnoli) of data, and its masked form as TFRecord stores it. */
uint32_t crc32c(const void *data, size_t n);
uint32_t crc32c_masked(const void *data, size_t n);

#endif
