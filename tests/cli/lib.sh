# Helpers for shell tests (sourced). Each case prints "PASS name" or "FAIL name".
# Paths are relative to the project root, where tests/run.sh starts every script.
set -u
BIN=${BIN:-bin}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
TMP=$(mktemp -d /tmp/maskdit-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; [ $# -gt 0 ] && echo "    $*"; return 0; }

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
