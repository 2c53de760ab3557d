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
