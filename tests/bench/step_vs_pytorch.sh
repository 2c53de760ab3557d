#!/usr/bin/env bash
# CPU training step of MaskDiT-C next to the PyTorch original on the same model, batch and
# machine (issue 2's targets: >= 1.5x PyTorch's best, >= 60% of the GEMM baseline over the step,
# less peak memory). PyTorch runs ../shared/reference/bench_torch.py (Debian's python3-torch).
#   PRESET=fmnist-small STEPS=10 bash tests/bench/step_vs_pytorch.sh
set -u
cd "$(dirname "$0")/../.."
PRESET=${PRESET:-fmnist-small}
STEPS=${STEPS:-10}
REF=../shared/reference/bench_torch.py
declare -A ms rss

for t in 1 2; do
    out=$(OMP_NUM_THREADS=$t bin/maskdit-bench --preset "$PRESET" --threads $t --steps "$STEPS" 2>&1)
    echo "$out" | sed "s/^/[maskdit-c threads=$t] /"
    ms[c$t]=$(echo "$out" | sed -n 's/^median \([0-9.]*\) ms.*/\1/p')
    rss[c$t]=$(echo "$out" | sed -n 's/.*peak memory on [^:]*: \([^(]*[^ (]\) (.*/\1/p')
done

if [ -f "$REF" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    for t in 1 2; do
        out=$(/usr/bin/python3 - "$REF" "$PRESET" "$t" "$STEPS" <<'PY' 2>&1
import resource, runpy, sys
ref, preset, threads, steps = sys.argv[1:5]
sys.argv = [ref, '--preset', preset, '--threads', threads, '--steps', steps]
runpy.run_path(ref, run_name='__main__')
print(f'peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB')
PY
)
        echo "$out" | sed "s/^/[pytorch threads=$t] /"
        ms[p$t]=$(echo "$out" | sed -n 's/^median \([0-9.]*\) ms.*/\1/p')
        rss[p$t]=$(echo "$out" | sed -n 's/^peak RSS \(.*\)$/\1/p')
    done
    best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }'; }
    c=$(best "${ms[c1]}" "${ms[c2]}")
    p=$(best "${ms[p1]}" "${ms[p2]}")
    echo "summary ($PRESET): MaskDiT-C best ${c} ms/step, PyTorch best ${p} ms/step," \
         "speed-up $(awk -v p="$p" -v c="$c" 'BEGIN { printf "%.2f", p / c }')x;" \
         "peak memory MaskDiT-C ${rss[c2]} vs PyTorch ${rss[p2]} (2 threads)"
else
    echo "PyTorch (python3-torch) not found: MaskDiT-C numbers only"
fi
