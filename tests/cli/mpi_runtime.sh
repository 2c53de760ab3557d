#!/usr/bin/env bash
# The MPI runtime and the gradient all-reduces on 2 ranks (the unit tests also run alone as 1 rank):
# MPI, and NCCL over the emulated CUDA runtime of tests/fakegpu, with a failed and a stuck peer.
. tests/cli/lib.sh
out=$($MPIRUN -np 2 "$BIN/tests/test_gradcomm" 2>&1)
rc=$?
echo "$out" | grep -E '^(PASS|FAIL) ' | sed 's/^\(PASS\|FAIL\) /\1 np2_/'
if [ $rc -ne 0 ] || ! echo "$out" | grep -q '^world size 2$'; then fail np2_run "$(echo "$out" | tail -n 20)"; fi

# The NCCL all-reduce over the emulated runtime (built where CUDA's headers are: tests/fakegpu)
NCCL_TEST=$BIN/tests/test_gradcomm_nccl
if [ -x "$NCCL_TEST" ]; then
    out=$($MPIRUN -np 2 "$NCCL_TEST" 2>&1)
    rc=$?
    echo "$out" | grep -E '^(PASS|FAIL) ' | sed 's/^\(PASS\|FAIL\) /\1 nccl_np2_/'
    if [ $rc -ne 0 ] || ! echo "$out" | grep -q '^world size 2$'; then fail nccl_np2_run "$(echo "$out" | tail -n 20)"; fi
    # a dead or stuck peer ends the job with a message, never a hang (timeout: the test's own guard)
    expect_error nccl_peer_error "the NCCL gradient all-reduce failed on rank" \
        timeout 120 $MPIRUN -np 2 -x FAKE_GPU_FAULT=peer-error "$NCCL_TEST"
    expect_error nccl_stuck_peer "did not complete within 1 s on rank" \
        timeout 120 $MPIRUN -np 2 -x FAKE_GPU_FAULT=stall -x MASKDIT_NCCL_TIMEOUT=1 "$NCCL_TEST"
else
    echo "note: $NCCL_TEST not built (no CUDA headers): NCCL all-reduce cases not run"
fi

# Every rank checks its CPU affinity at start (src/util/affinity.c): pinned to one CPU with 2 OpenMP
# threads, it warns naming both numbers; with 1 thread it says nothing.
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then
    out=$(taskset -c 0 env OMP_NUM_THREADS=2 "$BIN/maskdit-plot" --help 2>&1)
    [[ $out == *"2 OpenMP threads but the affinity mask of this rank holds only 1 CPU"* ]] && pass affinity_warning ||
        fail affinity_warning "no affinity warning under taskset -c 0 with OMP_NUM_THREADS=2: $(echo "$out" | head -n 3)"
    out=$(taskset -c 0 env OMP_NUM_THREADS=1 "$BIN/maskdit-plot" --help 2>&1)
    [[ $out != *"affinity mask"* ]] && pass affinity_no_warning || fail affinity_no_warning "$(echo "$out" | head -n 3)"
else
    skip affinity_warning "taskset is not installed or cannot pin to CPU 0"
fi
