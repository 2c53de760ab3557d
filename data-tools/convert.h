/* maskdit-convert: datasets -> HDF5 shards (docs/maskdit-convert.md). Every subcommand is a
 * function taking its own arguments (argv[0] = the subcommand name) so that tests can run it in
 * process; bad input comes back as an Error, the program main turns it into a message and an exit
 * status. All of them are collective over dist (one rank is fine). */
#ifndef MASKDIT_CONVERT_H
#define MASKDIT_CONVERT_H

#include "../mpi/dist.h"
#include <stdint.h>

#include "../src/data/reader.h"

/* One input: `count` samples of shape [channels, resolution, resolution], read in increasing
 * order by each rank (a rank starts at the first sample of its first shard). */
typedef struct ConvertSource {
    char description[4200];    /* names the input in messages: "lmdb data/train" */
    char labels_from[4200];    /* names where the labels come from: the input, or its labels file */
    long long count;
    int channels, resolution;
    int32_t *labels;           /* every label (loaded when the source is opened) */
    /* x [n, channels, resolution, resolution] <- samples first .. first+n-1 */
    int (*read)(struct ConvertSource *src, long long first, long long n, float *x, Error *e);
    void *impl;
} ConvertSource;

#define CONVERT_MAX_INPUTS 2

/* Settings shared by the converting subcommands (--out, --dtype, ...). */
typedef struct {
    const char *out;
    char dtype[8];             /* "float16" (default) or "float32" */
    char kind[16];             /* moments / latents / pixels */
    double scale_factor;       /* < 0: 0.18215 for moments and latents, 1 for pixels */
    int num_classes;           /* < 0: largest label + 1 */
    long long shard_size;      /* samples per shard; 0: about 1 GiB per shard */
    int xflip_included;
    int progress;
    const char *source;        /* recorded as the `source` attribute; NULL: the input description */
    const char *inputs[CONVERT_MAX_INPUTS + 1];   /* the files read (NULL-terminated): convert_check_input */
} ConvertOptions;

/* Rank 0's result rc (and its message in e) for every rank of dist (collective). */
int convert_rank0_result(int rc, const Dist *dist, Error *e);

/* Rank 0 creates opt->out and takes its lock (one writer per directory, src/util/dirlock.h) before
 * any rank writes there; every rank gets rank 0's result (collective). Calling it again is cheap. */
int convert_claim_out(const ConvertOptions *opt, const Dist *dist, Error *e);

/* Rank 0 checks that opt->inputs are the files an earlier conversion into opt->out read (size,
 * modification time, CRC-32 of their first and last MiB, recorded in <out>/.convert-input by the
 * first run), so that kept shards are never mixed with shards of a changed input; every rank gets
 * the result (collective). */
int convert_check_input(const ConvertOptions *opt, const Dist *dist, Error *e);

/* Writes the dataset of src into opt->out: shard s is converted by rank s % world, a shard that
 * is already complete from an earlier run is checked and kept (never rewritten), an interrupted
 * one (.tmp) is redone; rank 0 writes index.h5 when every rank has finished. */
int convert_write_dataset(ConvertSource *src, const ConvertOptions *opt, const Dist *dist, Error *e);

/* Subcommands (argv[0] is the subcommand's name). */
int convert_lmdb_command(int argc, char **argv, const Dist *dist, Error *e);
int convert_idx_command(int argc, char **argv, const Dist *dist, Error *e);
int convert_npy_command(int argc, char **argv, const Dist *dist, Error *e);
int convert_npz_command(int argc, char **argv, const Dist *dist, Error *e);
int convert_info_command(int argc, char **argv, const Dist *dist, Error *e);
int convert_verify_command(int argc, char **argv, const Dist *dist, Error *e);
int convert_bench_command(int argc, char **argv, const Dist *dist, Error *e);

/* Command-line parsing shared by the subcommands. An argument spec: "--name value" / "--name=value"
 * options store their value, flags (value NULL) set *flag = 1, and the entry with name NULL takes
 * the positional argument. The list ends with an all-NULL entry. */
typedef struct {
    const char *name;
    const char **value;
    int *flag;
} ConvertArg;

void convert_options_default(ConvertOptions *opt, const char *kind);
/* Parses argv[1..]; with common != NULL the common converter options (CONVERT_COMMON_USAGE) are
 * accepted too. Returns 0, 1 after printing usage for --help, or -1 with a message (naming the
 * subcommand argv[0] and the option). */
int convert_parse_args(int argc, char **argv, const ConvertArg *args, ConvertOptions *common, const char *usage,
                       Error *e);
extern const char CONVERT_COMMON_USAGE[];

#endif
