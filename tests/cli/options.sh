# Every program reads its options from one table (src/util/options.h): an unknown option is
# reported as unknown with the program's --help, wherever it stands (last on the line too), a
# missing value as missing, a value given to a flag and a plain argument too many as such, and
# --name=VALUE means --name VALUE everywhere. Each case ends before any work starts.
source tests/cli/lib.sh
GOLDEN_DIR=${MASKDIT_GOLDEN_DIR:-../shared/golden}

# refused NAME "message" PROGRAM ARGS...: the program fails with "maskdit...: error: message"
refused() {
    local name=$1 want=$2
    shift 2
    expect_error "$name" "error: $want" "$@"
}
refused generate_unknown_last "unknown option '--bogus' (see maskdit-generate --help)" \
    $BIN/maskdit-generate --config x --bogus
refused train_unknown_last "unknown option '--bogus' (see maskdit-train --help)" $BIN/maskdit-train --config x --bogus
refused bench_unknown_last "unknown option '--bogus' (see maskdit-bench --help)" $BIN/maskdit-bench --steps 1 --bogus
refused golden_unknown_last "unknown option '--bogus' (see maskdit-golden --help)" $BIN/maskdit-golden x --bogus
refused plot_unknown_last "unknown option '--bogus' (see maskdit-plot --help)" $BIN/maskdit-plot a b --bogus
refused generate_unknown_first "unknown option '--bogus' (see maskdit-generate --help)" \
    $BIN/maskdit-generate --bogus --config x
refused ckpt_import_unknown_last "unknown option '--bogus' (see maskdit-ckpt import --help)" \
    $BIN/maskdit-ckpt import a.pt b.h5 --bogus
refused ckpt_info_unknown "unknown option '--bogus' (see maskdit-ckpt info --help)" $BIN/maskdit-ckpt info --bogus a.pt
refused convert_unknown_last "lmdb: unknown option '--bogus' (see maskdit-convert lmdb --help)" \
    $BIN/maskdit-convert lmdb x --bogus

refused generate_missing_value "option --seeds needs a value (see maskdit-generate --help)" $BIN/maskdit-generate --seeds
refused train_missing_value "option --config needs a value (see maskdit-train --help)" $BIN/maskdit-train --config
refused bench_missing_value "option --steps needs a value (see maskdit-bench --help)" $BIN/maskdit-bench --steps
refused golden_missing_value "option --device needs a value (see maskdit-golden --help)" $BIN/maskdit-golden f.h5 --device

refused generate_flag_with_value "option --npz takes no value (see maskdit-generate --help)" $BIN/maskdit-generate --npz=1
refused train_flag_with_value "option --no_amp takes no value (see maskdit-train --help)" $BIN/maskdit-train --no_amp=yes
refused generate_plain_argument "unexpected argument 'x' (see maskdit-generate --help)" $BIN/maskdit-generate x
refused ckpt_info_two_files "unexpected argument 'b.pt' (see maskdit-ckpt info --help)" $BIN/maskdit-ckpt info a.pt b.pt

# --name=VALUE reaches the program as --name VALUE does (bench and golden did not accept it before)
refused bench_equals_value "--batch and --steps must be >= 1 (got 0 and 10)" $BIN/maskdit-bench --batch=0
refused golden_equals_value "--device: expected cpu, cuda or auto, got 'tpu'" $BIN/maskdit-golden "$GOLDEN_DIR/maskdit_tiny.h5" --device=tpu
refused ckpt_equals_value "--input-size: expected a whole number" $BIN/maskdit-ckpt import a.pt b.h5 --input-size=x

# help_matches_table NAME "SOURCES" PROGRAM [COMMAND]: PROGRAM [COMMAND] --help exits 0 and its
# usage on stdout names exactly the options of the option tables in SOURCES (the {"--name", ...}
# entries), so that the usage text and the table cannot drift apart.
help_matches_table() {
    local name=$1 sources=$2 help rc table named
    shift 2
    help=$("$@" --help 2>/dev/null); rc=$?
    if [ $rc -ne 0 ]; then fail "$name" "--help exited with $rc"; return; fi
    table=$(grep -ho '{"--[A-Za-z_-]*"' $sources | tr -d '{"' | sort -u)
    named=$(echo "$help" | grep -o -- '--[A-Za-z][A-Za-z_-]*' | grep -vx -- '--help' | sort -u)
    if [ -z "$table" ]; then fail "$name" "no option table found in $sources"; return; fi
    if [ "$table" != "$named" ]; then
        fail "$name" "usage and option table differ: $(diff <(echo "$table") <(echo "$named") | grep '^[<>]' | tr '\n' ' ')"
        return
    fi
    pass "$name"
}
help_matches_table help_train src/apps/maskdit-train.c $BIN/maskdit-train
help_matches_table help_generate src/apps/maskdit-generate.c $BIN/maskdit-generate
help_matches_table help_bench src/apps/maskdit-bench.c $BIN/maskdit-bench
help_matches_table help_golden src/apps/maskdit-golden.c $BIN/maskdit-golden
help_matches_table help_plot src/apps/maskdit-plot.c $BIN/maskdit-plot
help_matches_table help_ckpt data-tools/maskdit-ckpt.c $BIN/maskdit-ckpt
for command in lmdb idx npz; do
    help_matches_table help_convert_$command "data-tools/convert_$command.c data-tools/convert_args.c" \
        $BIN/maskdit-convert $command
done
help_matches_table help_convert_npy "data-tools/convert_numpy.c data-tools/convert_args.c" $BIN/maskdit-convert npy
help_matches_table help_convert_bench data-tools/convert_bench.c $BIN/maskdit-convert bench

# No command at all is a bad command line (status 1, the usage on stderr), as in maskdit-convert.
for program in maskdit-ckpt maskdit-convert; do
    out=$($BIN/$program 2>/dev/null); rc=$?
    if [ $rc -eq 1 ] && [ -z "$out" ]; then pass "${program}_no_command"; else fail "${program}_no_command" "status $rc, stdout '$out'"; fi
done

# --help ends every program cleanly under mpirun too (maskdit-bench exited without MPI_Finalize,
# which mpirun reports as a failure).
for program in maskdit-train maskdit-generate maskdit-bench maskdit-golden maskdit-plot maskdit-ckpt maskdit-convert; do
    expect_ok "${program}_help_np2" $MPIRUN -np 2 $BIN/$program --help
done
