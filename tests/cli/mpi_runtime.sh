#!/usr/bin/env bash
# The MPI runtime and gradient all-reduce on 2 ranks (the unit test also runs alone as 1 rank).
. tests/cli/lib.sh
out=$($MPIRUN -np 2 "$BIN/tests/test_gradcomm" 2>&1)
rc=$?
echo "$out" | grep -E '^(PASS|FAIL) ' | sed 's/^\(PASS\|FAIL\) /\1 np2_/'
if [ $rc -ne 0 ] || ! echo "$out" | grep -q '^world size 2$'; then fail np2_run "$(echo "$out" | tail -n 20)"; fi
