# Shared logic of the MaskDiT-C Slurm job templates (jobs/*.slurm source this file; see
# docs/slurm.md). A template sets its #SBATCH resources and defaults, then calls maskdit_job_start
# and one of maskdit_train_job, maskdit_generate_job, maskdit_convert_job.
#
# What it does for every template:
#  - checks the allocation and the inputs before anything is launched: SLURM_NTASKS present,
#    MASKDIT_RANKS (if given) equal to it, one rank per allocated GPU; config, dataset, checkpoint;
#  - launches one MPI rank per task with `srun --mpi=pmix` (or `mpirun`, MASKDIT_LAUNCHER=mpirun);
#  - training: forwards SIGUSR1 (sent by `#SBATCH --signal=B:USR1@...` before the time limit) and
#    SIGTERM to the ranks as SIGUSR1; they write a checkpoint at the next step boundary and exit
#    with status 3 (EXIT_REQUEUE_STATUS in src/util/common.h); then it records that checkpoint in
#    the job's Comment and requeues the job (`scontrol requeue`). The requeued job resumes from it,
#    and refuses to start when it has disappeared in between (it would silently start from scratch);
#  - sampling: forwards the signals in the same way; the ranks stop between two sampler steps,
#    dropping the unfinished batch (every finished batch is kept in the results directory), and
#    exit with status 3; the job requeues and the requeued job, running the same command, samples
#    only the batches left;
#  - conversion: on the signal, stops the ranks and requeues (complete shards are kept).
#
# Environment (all optional):
#   MASKDIT_HOME      repository root (default: the directory sbatch was run from)
#   MASKDIT_SETUP     a shell file sourced before launching (module load ... of the site)
#   MASKDIT_BIN       directory of the maskdit-* programs (default: $MASKDIT_HOME/bin)
#   MASKDIT_LAUNCHER  srun (default) or mpirun
#   MASKDIT_SRUN_MPI  srun's --mpi plugin (default: pmix)
#   MASKDIT_RANKS     ranks to launch (default and only allowed value: SLURM_NTASKS)
#   MASKDIT_SRUN_HINT srun's SMT binding option (default --hint=nomultithread; empty for none)
#   MASKDIT_CKPT_DEADLINE seconds the ranks get to checkpoint and stop after the signal (default
#                     240; less than the --signal lead time): then the job requeues without them
#   MASKDIT_STEP_WAIT seconds srun waits for the other ranks after the first one ended (default 120)

MASKDIT_REQUEUE_STATUS=3                        # EXIT_REQUEUE_STATUS in src/util/common.h
MASKDIT_COMMENT_TAG=maskdit-checkpoint:         # job Comment prefix naming the last checkpoint
MASKDIT_BIN=${MASKDIT_BIN:-$MASKDIT_HOME/bin}
MASKDIT_LAUNCHER=${MASKDIT_LAUNCHER:-srun}
MASKDIT_SRUN_MPI=${MASKDIT_SRUN_MPI:-pmix}
MASKDIT_STEP_WAIT=${MASKDIT_STEP_WAIT:-120}
MASKDIT_CKPT_DEADLINE=${MASKDIT_CKPT_DEADLINE:-240}

maskdit_log() { echo "maskdit-job: $*"; }
maskdit_die() { echo "maskdit-job: error: $*" >&2; exit 1; }

# Which file a setting names must exist: maskdit_require_file VAR-NAME PATH WHAT
maskdit_require_file() {
    [ -n "$2" ] || maskdit_die "$1 is not set: it must name $3"
    [ -f "$2" ] || maskdit_die "$1=$2: no such file (expected $3)"
}

# A dataset directory written by maskdit-convert (docs/data-format.md) has an index.h5.
maskdit_require_dataset() {   # dir where-it-was-named
    [ -f "$1/index.h5" ] || maskdit_die "dataset $1 ($2): no such dataset directory (expected $1/index.h5;" \
        "convert the data first: jobs/convert.slurm)"
}

# Header of the job log, checks of the allocation, NCCL and OpenMP settings.
maskdit_job_start() {   # what (e.g. "train", "generate")
    [ -n "${SLURM_JOB_ID:-}" ] && [ -n "${SLURM_NTASKS:-}" ] ||   # SC2015: die is the else branch
        maskdit_die "SLURM_JOB_ID/SLURM_NTASKS are not set: submit this script with sbatch (docs/slurm.md)"
    MASKDIT_RESTART=${SLURM_RESTART_COUNT:-0}
    maskdit_log "$1 job $SLURM_JOB_ID (restart $MASKDIT_RESTART) on ${SLURM_JOB_NUM_NODES:-1} node(s)" \
        "[${SLURM_JOB_NODELIST:-?}], $SLURM_NTASKS task(s), started $(date '+%F %T')"
    maskdit_check_world_size
    if [ -n "${MASKDIT_SETUP:-}" ]; then
        [ -f "$MASKDIT_SETUP" ] || maskdit_die "MASKDIT_SETUP=$MASKDIT_SETUP: no such file (a shell file with the site's module loads)"
        maskdit_log "sourcing $MASKDIT_SETUP"
        # `module` scripts are not written for set -u.
        set +u
        # shellcheck disable=SC1090
        source "$MASKDIT_SETUP" || maskdit_die "MASKDIT_SETUP=$MASKDIT_SETUP failed (status $?)"
        set -u
    fi
    # NCCL: warnings and errors in the job log; the rest is left to NCCL's detection unless the site
    # sets NCCL_* (docs/slurm.md lists the usual ones: NCCL_SOCKET_IFNAME, NCCL_IB_HCA, ...).
    export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
    # One rank per GPU: the CPU threads of a rank are the cores Slurm gave its task.
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
    # HDF5 files on Lustre/GPFS: POSIX file locking is often unsupported or slow there.
    export HDF5_USE_FILE_LOCKING=${HDF5_USE_FILE_LOCKING:-FALSE}
    maskdit_cpu_binding
    maskdit_log "environment: OMP_NUM_THREADS=$OMP_NUM_THREADS $(env | grep -E '^NCCL_' | sort | tr '\n' ' ')"
}

# srun's CPU binding (MASKDIT_SRUN_CPU_BINDING). From Slurm 22.05 to 23.02 srun does not inherit
# --cpus-per-task from the batch allocation: under task/affinity each rank was then pinned to one
# core while running OMP_NUM_THREADS threads. --hint=nomultithread (or MASKDIT_SRUN_HINT, e.g.
# --threads-per-core=1; empty for none) keeps the threads off SMT siblings. Every rank checks its
# affinity mask at start and warns when it has fewer CPUs than threads (src/util/affinity.c).
maskdit_cpu_binding() {
    MASKDIT_SRUN_CPU_BINDING=()
    [ -n "${SLURM_CPUS_PER_TASK:-}" ] || return 0
    MASKDIT_SRUN_CPU_BINDING=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
    local hint=${MASKDIT_SRUN_HINT---hint=nomultithread}
    [ -z "$hint" ] || MASKDIT_SRUN_CPU_BINDING+=("$hint")
}

maskdit_check_world_size() {
    MASKDIT_RANKS=${MASKDIT_RANKS:-$SLURM_NTASKS}
    [[ $MASKDIT_RANKS =~ ^[1-9][0-9]*$ ]] || maskdit_die "MASKDIT_RANKS=$MASKDIT_RANKS is not a positive number of ranks"
    [ "$MASKDIT_RANKS" -eq "$SLURM_NTASKS" ] ||
        maskdit_die "world size mismatch: MASKDIT_RANKS=$MASKDIT_RANKS ranks requested but the allocation has" \
            "SLURM_NTASKS=$SLURM_NTASKS tasks; change --nodes/--ntasks-per-node instead"
    # With GPUs: one rank per GPU on every node (nodes of a job are alike).
    local gpus=${SLURM_GPUS_ON_NODE:-0} nodes=${SLURM_JOB_NUM_NODES:-1}
    if [ "$gpus" -gt 0 ] && [ "$SLURM_NTASKS" -ne $((gpus * nodes)) ]; then
        maskdit_die "world size mismatch: $SLURM_NTASKS tasks for $nodes node(s) x $gpus GPU(s); launch one rank" \
            "per GPU (--ntasks-per-node equal to the GPUs per node)"
    fi
}

# A job that checkpointed and requeued itself recorded that checkpoint in its Comment; the requeued
# run continues from the newest checkpoint of that directory (MASKDIT_RESUME_CKPT): the recorded
# one, or a later one if the job was requeued again (by Slurm, after a node failure) once it had
# written more. If the directory is gone or empty, the program would silently start again from
# scratch: stop instead.
maskdit_check_resume() {
    MASKDIT_RESUME_CKPT=
    [ "$MASKDIT_RESTART" -gt 0 ] || return 0
    local comment recorded dir newest
    comment=$(squeue -h -j "$SLURM_JOB_ID" -o %k 2>/dev/null)
    case $comment in "$MASKDIT_COMMENT_TAG"*) ;; *) return 0 ;; esac
    recorded=${comment#"$MASKDIT_COMMENT_TAG"}
    dir=$(dirname "$recorded")
    # Checkpoints are named by their step (at least 7 digits): the largest number is the newest.
    newest=$(find "$dir" -maxdepth 1 -name '*.h5' -printf '%f\n' 2>/dev/null | grep -E '^[0-9]+\.h5$' | sort -n | tail -n 1)
    [ -n "$newest" ] || maskdit_die "requeued job (restart $MASKDIT_RESTART) cannot resume: its checkpoint directory" \
        "$dir (where it wrote $(basename "$recorded")) was removed or holds no checkpoint. Restore it, or submit" \
        "a new job to start the run again."
    MASKDIT_RESUME_CKPT=$dir/$newest
    maskdit_log "resuming from $MASKDIT_RESUME_CKPT"
}

# The newest checkpoint */checkpoints/*.h5 under dir written since epoch second $2 (empty if none).
maskdit_newest_checkpoint() {   # dir since
    find "$1" -path '*/checkpoints/*.h5' -type f -printf '%T@ %p\n' 2>/dev/null |
        sort -n | awk -v since="$2" '$1 >= since { p = substr($0, index($0, " ") + 1) } END { if (p) print p }'
}

# What the batch shell does with SIGUSR1 (from --signal=B:USR1@...) and SIGTERM (scancel,
# preemption), by MASKDIT_ON_SIGNAL (empty: nothing, the signal's default action):
#   checkpoint  forward SIGUSR1 to the ranks: they checkpoint at the next step boundary (or batch)
#               and exit with status 3 (maskdit-train, maskdit-generate)
#   restart     stop the ranks (SIGTERM) and requeue: the program carries on from what it has
#               already written (maskdit-convert keeps complete shards)
_maskdit_on_signal() {   # signal name
    MASKDIT_SIGNALLED=$1
    if [ "$MASKDIT_ON_SIGNAL" = checkpoint ]; then
        maskdit_log "received SIG$1 at $(date '+%F %T'): asking the ranks to checkpoint and stop (SIGUSR1)" \
            "within MASKDIT_CKPT_DEADLINE=${MASKDIT_CKPT_DEADLINE}s"
        kill -USR1 "$MASKDIT_STEP_PID" 2>/dev/null
        _maskdit_start_deadline
    else
        maskdit_log "received SIG$1 at $(date '+%F %T'): stopping the ranks; the requeued job carries on"
        kill -TERM "$MASKDIT_STEP_PID" 2>/dev/null
    fi
}

# The checkpoint after the signal is bounded: a collective write that hangs (MPI-IO on Lustre, see
# docs/slurm.md) would otherwise keep the ranks until the time limit, and `scontrol requeue` would
# never run, silently ending a chain of requeued jobs. After MASKDIT_CKPT_DEADLINE seconds a timer
# sends SIGUSR2 to this shell, which stops waiting and requeues: checkpoints are written under a
# temporary name and renamed, so the previous one is intact.
_maskdit_start_deadline() {
    [ -z "$MASKDIT_DEADLINE_PID" ] || return 0   # a second signal keeps the first deadline
    [[ $MASKDIT_CKPT_DEADLINE =~ ^[1-9][0-9]*$ ]] ||
        maskdit_die "MASKDIT_CKPT_DEADLINE=$MASKDIT_CKPT_DEADLINE is not a positive number of seconds"
    local shell_pid=$$
    (
        sleep "$MASKDIT_CKPT_DEADLINE" &
        trap 'kill $! 2>/dev/null; exit 0' TERM
        wait $! && kill -USR2 "$shell_pid"
    ) &
    MASKDIT_DEADLINE_PID=$!
}

_maskdit_on_deadline() {
    MASKDIT_DEADLINE_PASSED=1
    maskdit_log "error: the ranks did not checkpoint and stop within MASKDIT_CKPT_DEADLINE=${MASKDIT_CKPT_DEADLINE}s" \
        "after the signal (a hung checkpoint write? see 'MPI-IO and Lustre' in docs/slurm.md): requeueing" \
        "without them; the requeued job resumes from the newest complete checkpoint"
}

# Launch program on all ranks and wait for it, handling signals as MASKDIT_ON_SIGNAL says; sets rc.
_maskdit_launch() {   # program args...
    local prog=$MASKDIT_BIN/$1
    shift
    [ -x "$prog" ] || maskdit_die "$prog is missing or not executable: build with make (INSTALL.md) or set MASKDIT_BIN"
    local -a launcher
    case $MASKDIT_LAUNCHER in
        # --wait: a rank that hangs after another one ended is killed, so that the job never hangs.
        # --kill-on-bad-exit=0 whatever the site's default: it would kill the ranks still finishing
        # when the first one exits with the requeue status (a failing rank ends the job by MPI_Abort).
        srun) launcher=(srun --mpi="$MASKDIT_SRUN_MPI" --ntasks="$MASKDIT_RANKS" --wait="$MASKDIT_STEP_WAIT"
            --kill-on-bad-exit=0 "${MASKDIT_SRUN_CPU_BINDING[@]}") ;;
        # Open MPI's mpirun reads the Slurm allocation itself and forwards SIGUSR1 to the ranks.
        mpirun) launcher=(mpirun -np "$MASKDIT_RANKS" --bind-to none) ;;
        *) maskdit_die "MASKDIT_LAUNCHER=$MASKDIT_LAUNCHER: expected srun or mpirun" ;;
    esac
    maskdit_log "launch: ${launcher[*]} $prog $*"
    MASKDIT_SIGNALLED=''
    MASKDIT_DEADLINE_PID=''
    MASKDIT_DEADLINE_PASSED=''
    "${launcher[@]}" "$prog" "$@" &
    MASKDIT_STEP_PID=$!
    if [ -n "$MASKDIT_ON_SIGNAL" ]; then
        trap '_maskdit_on_signal USR1' USR1
        trap '_maskdit_on_signal TERM' TERM
        trap _maskdit_on_deadline USR2
    fi
    # wait returns early when a trapped signal arrives: wait again while the step runs.
    while :; do
        wait "$MASKDIT_STEP_PID"
        rc=$?
        [ -z "$MASKDIT_DEADLINE_PASSED" ] || break
        kill -0 "$MASKDIT_STEP_PID" 2>/dev/null || break
    done
    trap - USR1 TERM USR2
    [ -z "$MASKDIT_DEADLINE_PID" ] || kill "$MASKDIT_DEADLINE_PID" 2>/dev/null
    if [ -n "$MASKDIT_DEADLINE_PASSED" ]; then
        rc=$MASKDIT_REQUEUE_STATUS   # the requeue ends the ranks still running
        return
    fi
    maskdit_log "ranks ended with status $rc at $(date '+%F %T')"
}

_maskdit_requeue() {
    maskdit_log "requeueing job $SLURM_JOB_ID"
    if scontrol requeue "$SLURM_JOB_ID"; then
        sleep 60 # Slurm ends this script as part of the requeue
        exit "$rc"
    fi
    maskdit_die "scontrol requeue $SLURM_JOB_ID failed: the job ends here; resubmit it to resume"
}

# A program that checkpoints on SIGUSR1/SIGTERM (maskdit-train): status 3 means "checkpoint
# written, requeue me". Does not return: the script ends with the program's status or requeues.
maskdit_run_checkpointing() {   # checkpoint-root program args...
    local ckpt_root=$1 start ckpt
    shift
    MASKDIT_ON_SIGNAL=checkpoint
    start=$(date +%s)
    _maskdit_launch "$@"
    [ "$rc" -eq "$MASKDIT_REQUEUE_STATUS" ] || exit "$rc"
    # A minute of slack for clocks of file servers that differ from this node's. Past the deadline,
    # the newest complete checkpoint of any time (the requeued job must not start from scratch).
    local since=$((start - 60))
    [ -z "$MASKDIT_DEADLINE_PASSED" ] || since=0
    ckpt=$(maskdit_newest_checkpoint "$ckpt_root" "$since")
    if [ -n "$ckpt" ]; then
        scontrol update JobId="$SLURM_JOB_ID" Comment="$MASKDIT_COMMENT_TAG$ckpt" ||
            maskdit_log "warning: could not record $ckpt in the job's Comment (the requeued job cannot check it)"
        maskdit_log "checkpoint written: $ckpt"
    else
        maskdit_log "warning: the ranks asked for a requeue but no new checkpoint appeared under $ckpt_root"
    fi
    _maskdit_requeue
}

# A program that can be stopped at any time and run again to carry on (maskdit-convert): when a
# signal stopped it, requeue. Does not return.
maskdit_run_restartable() {   # program args...
    MASKDIT_ON_SIGNAL=restart
    _maskdit_launch "$@"
    [ "$rc" -ne 0 ] && [ -n "$MASKDIT_SIGNALLED" ] && _maskdit_requeue
    exit "$rc"
}

# A program that keeps its work as it goes and, on SIGUSR1, stops at the next boundary with status 3
# (maskdit-generate: every finished batch is kept in its results directory): requeue on status 3;
# the requeued job runs the same command, which carries on from the work kept. Does not return.
maskdit_run_resumable() {   # program args...
    MASKDIT_ON_SIGNAL=checkpoint
    _maskdit_launch "$@"
    [ "$rc" -eq "$MASKDIT_REQUEUE_STATUS" ] && _maskdit_requeue
    exit "$rc"
}

# Value of a two-level key (section.key) of a YAML config in the original schema, quotes and
# trailing comments removed; empty when absent.
maskdit_config_value() {   # file section key
    awk -v sec="$2" -v key="$3" '
        /^[^ \t#][^:]*:/ { insec = ($0 ~ "^" sec ":") ; next }
        insec && $0 ~ "^[ \t]+" key ":" {
            v = $0; sub("^[ \t]+" key ":[ \t]*", "", v); sub("[ \t]+#.*$", "", v); gsub(/^["'\'']|["'\'']$/, "", v)
            print v; exit
        }' "$1"
}

# Training and fine-tuning (train*.slurm, finetune*.slurm). Environment:
#   MASKDIT_CONFIG       YAML config (default: the template's recipe)
#   MASKDIT_RESULTS_DIR  where the experiment directory is made (default: results)
#   MASKDIT_DATA         dataset directory (maskdit-convert's output; default: data.root of the config)
#   MASKDIT_CKPT         checkpoint to start from (required for fine-tuning; optional otherwise)
# Further arguments of the template (sbatch jobs/train256.slurm --set train.lr=2e-4 ...) are passed
# to maskdit-train.
maskdit_train_job() {   # default-config finetune(0|1) template-args...
    local config=${MASKDIT_CONFIG:-$1} finetune=$2 results=${MASKDIT_RESULTS_DIR:-results} data ckpt_root
    shift 2
    local -a args=(--config "$config" --results_dir "$results")
    maskdit_require_file MASKDIT_CONFIG "$config" "the YAML config of the run"
    if [ -n "${MASKDIT_DATA:-}" ]; then
        data=$MASKDIT_DATA
        args+=(--set "data.root=$data")
    else
        data=$(maskdit_config_value "$config" data root)
        [ -n "$data" ] || maskdit_die "no dataset: set MASKDIT_DATA or data.root in $config"
    fi
    maskdit_require_dataset "$data" "MASKDIT_DATA or data.root of $config"
    maskdit_check_resume
    # ckpt_root: where the run writes its checkpoints. With --use_ckpt_path True (the original's
    # default) that is the experiment directory of the checkpoint it starts from.
    ckpt_root=$results
    if [ -n "$MASKDIT_RESUME_CKPT" ]; then
        ckpt_root=$(dirname "$(dirname "$MASKDIT_RESUME_CKPT")")
        # Requeued after a checkpoint: continue exactly from it (optimizer state, step, data
        # position), in its experiment directory; a fine-tune does not reload MASKDIT_CKPT.
        args+=(--ckpt_path "$MASKDIT_RESUME_CKPT" --use_ckpt_path True --use_strict_load True)
    elif [ "$finetune" = 1 ]; then
        maskdit_require_file MASKDIT_CKPT "${MASKDIT_CKPT:-}" "the pre-trained checkpoint to fine-tune"
        # As the original's fine-tuning: a new experiment directory, weights only (no optimizer state).
        args+=(--ckpt_path "$MASKDIT_CKPT" --use_ckpt_path False --use_strict_load False)
    elif [ -n "${MASKDIT_CKPT:-}" ]; then
        maskdit_require_file MASKDIT_CKPT "$MASKDIT_CKPT" "a checkpoint to start from"
        args+=(--ckpt_path "$MASKDIT_CKPT")
        ckpt_root=$(dirname "$(dirname "$MASKDIT_CKPT")")
    fi
    mkdir -p "$results" || maskdit_die "cannot create the results directory $results"
    maskdit_run_checkpointing "$ckpt_root" maskdit-train "${args[@]}" "$@"
}

# Sampling (generate.slurm). Environment:
#   MASKDIT_CKPT      checkpoint to sample (required; .h5 of maskdit-train or an official .pt)
#   MASKDIT_CONFIG    YAML config (default: the template's)
#   MASKDIT_OUTDIR    where the images go (default: samples)
#   MASKDIT_SEEDS     image seeds, split across the ranks (default: 0-49999, 50,000 images)
# Further template arguments go to maskdit-generate (--cfg_scale 1.5 --num_steps 40 --npz ...).
# A requeued job drops --fresh: it would throw away the batches its first run finished.
maskdit_generate_job() {   # default-config template-args...
    local config=${MASKDIT_CONFIG:-$1} arg
    shift
    local -a args=()
    maskdit_require_file MASKDIT_CONFIG "$config" "the YAML config of the model"
    maskdit_require_file MASKDIT_CKPT "${MASKDIT_CKPT:-}" "the checkpoint to sample"
    mkdir -p "${MASKDIT_OUTDIR:-samples}" || maskdit_die "cannot create the output directory ${MASKDIT_OUTDIR:-samples}"
    for arg in "$@"; do
        if [ "$arg" = --fresh ] && [ "$MASKDIT_RESTART" -gt 0 ]; then
            maskdit_log "requeued job: --fresh dropped, carrying on from the batches already finished"
            continue
        fi
        args+=("$arg")
    done
    maskdit_run_resumable maskdit-generate --config "$config" --ckpt_path "$MASKDIT_CKPT" \
        --results_dir "${MASKDIT_OUTDIR:-samples}" --seeds "${MASKDIT_SEEDS:-0-49999}" "${args[@]}"
}

# Dataset conversion (convert.slurm); the ranks share the shards. Environment:
#   MASKDIT_CONVERT   the input format: lmdb (default), idx, npy or npz
#   MASKDIT_SOURCE    the input: the LMDB directory (lmdb), the images file (idx), the data array
#                     (npy), the archive (npz)
#   MASKDIT_LABELS    the labels file (idx: required; npy: optional)
#   MASKDIT_DATA      the dataset directory to write
# Further template arguments go to maskdit-convert (--shard-size N, --dtype float32, --kind ...).
maskdit_convert_job() {   # default-source default-output template-args...
    local format=${MASKDIT_CONVERT:-lmdb} source=${MASKDIT_SOURCE:-$1} out=${MASKDIT_DATA:-$2}
    shift 2
    local -a args
    [ -e "$source" ] || maskdit_die "MASKDIT_SOURCE=$source: no such file or directory (the $format input to convert)"
    case $format in
        lmdb) args=(lmdb "$source") ;;
        idx)
            maskdit_require_file MASKDIT_LABELS "${MASKDIT_LABELS:-}" "the IDX labels file"
            args=(idx --images "$source" --labels "$MASKDIT_LABELS") ;;
        npz) args=(npz "$source") ;;
        npy)
            args=(npy --data "$source")
            if [ -n "${MASKDIT_LABELS:-}" ]; then
                maskdit_require_file MASKDIT_LABELS "$MASKDIT_LABELS" "the labels array"
                args+=(--labels "$MASKDIT_LABELS")
            fi ;;
        wds)   # a folder of WebDataset tar shards
            local -a tars=("$source"/*.tar)
            [ -f "${tars[0]}" ] || maskdit_die "MASKDIT_SOURCE=$source: no .tar shards in it (MASKDIT_CONVERT=wds)"
            args=(wds "${tars[@]}") ;;
        images) args=(images "$source") ;;   # --vae and --resolution come as further arguments
        *) maskdit_die "MASKDIT_CONVERT=$format: expected lmdb, idx, npy, npz, wds or images" ;;
    esac
    maskdit_run_restartable maskdit-convert "${args[@]}" --out "$out" "$@"
}
