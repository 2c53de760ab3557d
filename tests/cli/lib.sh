# Helpers for shell tests (sourced). Each case prints "PASS name" or "FAIL name".
# Paths are relative to the project root, where tests/run.sh starts every script.
set -u
BIN=${BIN:-bin}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
TMP=$(mktemp -d /tmp/maskdit-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; [ $# -gt 0 ] && echo "    $*"; return 0; }
# skip NAME REASON: a case whose prerequisite (a Python package) is missing; tests/run.sh lists it.
skip() { echo "SKIP $1 ($2)"; }

# expect_error NAME "expected text in stderr" command...  -> the command must fail and say it
expect_error() {
    local name=$1 want=$2; shift 2
    local out rc
    out=$("$@" 2>&1); rc=$?
    if [ $rc -eq 0 ]; then fail "$name" "succeeded, expected an error containing: $want"; return; fi
    if [[ $out != *"$want"* ]]; then fail "$name" "error did not contain '$want'; got: $(echo "$out" | tail -n 5)"; return; fi
    pass "$name"
}

# expect_ok NAME command...  -> the command must succeed
expect_ok() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -n 10)"; fi
}

# tiny_train_config FILE DATA_ROOT [SECTION.KEY=VALUE...]: writes the tiny training configuration
# of the CLI tests (one block of a DiT-S/4 of width 32 on 32x32 one-channel images in 10 classes,
# CPU, 6 steps of 8 images, a checkpoint every 3) reading the dataset DATA_ROOT; each
# SECTION.KEY=VALUE replaces a setting or adds one.
tiny_train_config() {
    local file=$1 kv key i section printed
    local keys=(data.dataset data.category data.root data.resolution data.num_channels
        model.model_type model.hidden_size model.depth model.num_heads model.decoder_hidden_size
        model.decoder_depth model.decoder_num_heads model.in_size model.in_channels model.num_classes
        train.device train.batchsize train.lr train.max_num_steps log.log_every log.ckpt_every wandb.project)
    local values=(synthetic hdf5 "$2" 32 1 DiT-S/4 32 1 2 32 1 2 32 1 10 cpu 8 0.001 6 1 3 ignored)
    shift 2
    for kv in "$@"; do
        key=${kv%%=*}
        case ${key%%.*} in data | model | train | log | wandb) ;; *) echo "tiny_train_config: no section for $key" >&2; return 1 ;; esac
        for i in "${!keys[@]}"; do [ "${keys[$i]}" = "$key" ] && break; done
        if [ "${keys[$i]}" != "$key" ]; then i=${#keys[@]}; keys+=("$key"); fi
        values[$i]=${kv#*=}
    done
    for section in data model train log wandb; do
        printed=
        for i in "${!keys[@]}"; do
            [ "${keys[$i]%%.*}" = "$section" ] || continue
            [ -n "$printed" ] || echo "$section:"
            printed=1
            echo "  ${keys[$i]#*.}: ${values[$i]}"
        done
    done >"$file"
}
