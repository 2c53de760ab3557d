#!/usr/bin/env bash
# Runs the whole test suite: every unit-test program bin/tests/test_* and every shell test
# tests/cli/*.sh (CLI behaviour, multi-rank runs, fault handling, Slurm). Each prints one
# "PASS name" / "FAIL name" line per case, or "SKIP name (reason)" for a case whose prerequisite
# is missing; a program that dies without reporting counts as one failure. Test programs the build
# could not make (the kernel emulation and fake-NCCL tests need the CUDA toolkit's headers) count
# as skipped with the reason. The last line is "N passed, N failed, N skipped"; the exit status is 0
# only when nothing failed.
#
#   bash tests/run.sh              everything
#   bash tests/run.sh golden data  only the programs / scripts whose name contains a pattern
set -u
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export MASKDIT_GOLDEN_DIR=${MASKDIT_GOLDEN_DIR:-../shared/golden}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
log_dir=$(mktemp -d /tmp/maskdit-tests.XXXXXX)
passed=0
failed=0
skipped=0
failed_names=()

PATTERNS=("$@")
selected() {   # name: true when no pattern was given or the name contains one
    [ ${#PATTERNS[@]} -eq 0 ] && return 0
    for p in "${PATTERNS[@]}"; do [[ $1 == *"$p"* ]] && return 0; done
    return 1
}

run_one() {   # name command...
    local name=$1; shift
    local log="$log_dir/$name.log" t0=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local p f
    p=$(grep -c '^PASS ' "$log")
    f=$(grep -c '^FAIL ' "$log")
    s=$(grep -c '^SKIP ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name (exit status $rc without a failed case)" >>"$log"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    printf '%-40s %3d passed %3d failed  %4ds\n' "$name" "$p" "$f" $((SECONDS - t0))
    grep '^SKIP ' "$log" | sed 's/^/    /'
    if [ "$f" -gt 0 ]; then
        failed_names+=("$name")
        grep -v '^PASS ' "$log" | tail -n 40 | sed 's/^/    /'
    fi
}

for t in bin/tests/test_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t")
    selected "$n" || continue
    run_one "$n" "$t"
done
# Sources whose program the build left out (no CUDA headers): skipped, with the reason.
for src in tests/simt/test_*.cc tests/fakegpu/test_*.c; do
    [ -f "$src" ] || continue
    n=$(basename "${src%.*}")
    selected "$n" || continue
    if [ ! -x "bin/tests/$n" ]; then
        echo "SKIP $n (not built: the CUDA toolkit's headers were not found; set CUDA_HOME)"
        skipped=$((skipped + 1))
    fi
done
for t in tests/cli/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue
    [ -f "$t" ] || continue
    n=$(basename "$t" .sh)
    selected "$n" || continue
    run_one "$n" bash "$t"
done

[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]} (logs in $log_dir)"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
