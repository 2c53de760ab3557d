# The layer rules of docs/design.md on the source tree (tests/tools/check_layers.py): includes
# follow the layers, only mpi/ calls MPI or NCCL, cuda/ reads no files, data-tools/ reaches the
# model's description only. And the check itself can fail: a tree with one violation of each
# rule planted must fail every rule.
source tests/cli/lib.sh
PY=/usr/bin/python3
$PY tests/tools/check_layers.py .
mkdir -p "$TMP/tree"
cp -r src cuda mpi data-tools "$TMP/tree/"
echo '#include "../train/trainer.h"' >>"$TMP/tree/src/util/common.c"
echo 'static void x(void) { MPI_Barrier(MPI_COMM_WORLD); }' >>"$TMP/tree/src/sample/work.c"
echo 'static void y(void) { fopen("a", "r"); }' >>"$TMP/tree/cuda/absent.c"
echo '#include "../src/model/model.h"' >>"$TMP/tree/data-tools/convert_info.c"
out=$($PY tests/tools/check_layers.py "$TMP/tree")
if [ "$(echo "$out" | grep -c '^FAIL ')" -eq 4 ] && [[ $out == *"src/util/common.c"* && $out == *"src/sample/work.c"* &&
    $out == *"cuda/absent.c"* && $out == *"data-tools/convert_info.c"* ]]; then pass planted_violations_fail
else fail planted_violations_fail "$out"; fi
