#!/usr/bin/env bash
# jobs/demo.sh (make demo) end to end in seconds: Fashion-MNIST conversion, a few seconds of
# training on 2 ranks, a resumed second invocation, one sample per class, the loss curve.
. tests/cli/lib.sh
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${FMNIST_DIR:-}" ]; then
    fail demo_dataset "Debian's dataset-fashion-mnist is not installed (make deps installs it)"
    exit 0
fi
# PNG width and height from the IHDR chunk
png_size() { /usr/bin/python3 -c "import struct, sys; d = open(sys.argv[1], 'rb').read(24); assert d[:8] == b'\x89PNG\r\n\x1a\n'; print(*struct.unpack('>II', d[16:24]))" "$1"; }
export DEMO_DIR=$TMP/demo DEMO_MINUTES=0.05 DEMO_SEEDS=0 DEMO_SAMPLE_STEPS=2 DEMO_THREADS=1
export DEMO_ARGS="--set log.log_every=1 --set log.ckpt_every=100000"
out=$(bash jobs/demo.sh 2>&1); rc=$?
if [ $rc -eq 0 ] && [[ $out == *"samples (rows: classes 0-9): $DEMO_DIR/samples/grid.png"* ]]; then pass demo_runs
else fail demo_runs "exit $rc: $(echo "$out" | tail -n 15)"; fi
read -r gw gh < <(png_size "$DEMO_DIR/samples/grid.png" 2>/dev/null)
[ "${gw:-0}" -ge 32 ] && [ "${gh:-0}" -ge $((10 * 32)) ] && pass demo_grid_one_row_per_class ||
    fail demo_grid_one_row_per_class "grid.png is ${gw:-?}x${gh:-?}"
[ "$(png_size "$DEMO_DIR/loss.png" 2>/dev/null)" = "800 480" ] && pass demo_loss_curve || fail demo_loss_curve "loss.png missing or wrong size"
first=$(echo "$out" | sed -n 's/^== done: \([0-9]*\) training steps so far/\1/p')
out=$(bash jobs/demo.sh 2>&1); rc=$?
second=$(echo "$out" | sed -n 's/^== done: \([0-9]*\) training steps so far/\1/p')
if [ $rc -eq 0 ] && [[ $out == *"Resuming from"* ]] && [ "${second:-0}" -gt "${first:-0}" ]; then pass demo_continues
else fail demo_continues "exit $rc, steps ${first:-?} then ${second:-?}: $(echo "$out" | tail -n 5)"; fi
