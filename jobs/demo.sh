#!/usr/bin/env bash
# The CPU demo (`make demo`): Fashion-MNIST -> HDF5 dataset -> a small class-conditional MaskDiT
# trained with 2 MPI ranks on the CPU for 2500 steps or at most DEMO_MINUTES -> a grid of generated
# samples (one row per class) and a loss-curve picture. Running it again continues the same run from
# its last checkpoint (when the time bound stopped it). See docs/demo.md.
#
#   DEMO_MINUTES   at most this many minutes of training per invocation (default 30)
#   DEMO_DIR       where everything goes (default demo-output)
#   DEMO_RANKS     MPI ranks (default 2); DEMO_THREADS: OpenMP threads per rank (default cores/ranks)
#   FMNIST_DIR     the IDX files (default /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist)
#   DEMO_SEEDS     image seeds per class (default 0-9); DEMO_SAMPLE_STEPS: sampler steps (default 18)
#   DEMO_ARGS      extra maskdit-train arguments, e.g. "--set log.log_every=10"
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${DEMO_MINUTES:-30}
DIR=${DEMO_DIR:-demo-output}
RANKS=${DEMO_RANKS:-2}
CORES=$(nproc)
THREADS=${DEMO_THREADS:-$(( CORES / RANKS > 0 ? CORES / RANKS : 1 ))}
FMNIST_DIR=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
SEEDS=${DEMO_SEEDS:-0-9}
SAMPLE_STEPS=${DEMO_SAMPLE_STEPS:-18}
read -r -a EXTRA <<<"${DEMO_ARGS:-}"
CONFIG=configs/demo/fmnist.yaml
CLASSES=("T-shirt/top" "Trouser" "Pullover" "Dress" "Coat" "Sandal" "Shirt" "Sneaker" "Bag" "Ankle boot")

say() { printf '\n== %s\n' "$*"; }
die() { echo "demo: error: $*" >&2; exit 1; }

for b in maskdit-convert maskdit-train maskdit-generate maskdit-plot; do
    [ -x "bin/$b" ] || die "bin/$b is missing: build first with make (make demo does)"
done

# ---- 1. the data: Debian's dataset-fashion-mnist ----
images=$FMNIST_DIR/train-images-idx3-ubyte.gz
labels=$FMNIST_DIR/train-labels-idx1-ubyte.gz
if [ ! -f "$images" ] || [ ! -f "$labels" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing Debian's dataset-fashion-mnist"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
    elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
        say "installing Debian's dataset-fashion-mnist (sudo)"
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
    fi
    [ -f "$images" ] && [ -f "$labels" ] ||
        die "Fashion-MNIST not found in $FMNIST_DIR: install Debian's dataset-fashion-mnist or set FMNIST_DIR to a directory with train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz"
fi

mkdir -p "$DIR"
DATA=$DIR/fmnist-hdf5
if ! bin/maskdit-convert info "$DATA" >/dev/null 2>&1; then
    say "converting Fashion-MNIST to an HDF5 dataset in $DATA"
    bin/maskdit-convert idx --images "$images" --labels "$labels" --out "$DATA"
fi

# ---- 2. training: 2 ranks on the CPU for DEMO_MINUTES (resumes from the last checkpoint) ----
MPIRUN=(mpirun -np "$RANKS" --oversubscribe --bind-to none -x OMP_NUM_THREADS="$THREADS")
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
say "training (at most $MINUTES minutes): $RANKS MPI ranks x $THREADS threads ($CONFIG)"
export OMP_NUM_THREADS=$THREADS
"${MPIRUN[@]}" bin/maskdit-train --config "$CONFIG" --results_dir "$DIR/results" --set data.root="$DATA" \
    --set train.max_minutes="$MINUTES" ${EXTRA[@]+"${EXTRA[@]}"}

exp=$(ls -td "$DIR"/results/*/ | head -n 1)
exp=${exp%/}
ckpt=$(ls "$exp"/checkpoints/*.h5 | tail -n 1)

# ---- 3. samples: one row per class, EMA weights, classifier-free guidance ----
say "sampling images $SEEDS of each class from $ckpt"
rm -rf "$DIR/samples"
"${MPIRUN[@]}" bin/maskdit-generate --config "$CONFIG" --ckpt_path "$ckpt" --class_idx 0-9 --seeds "$SEEDS" \
    --cfg_scale 2 --num_steps "$SAMPLE_STEPS" --device cpu --results_dir "$DIR/samples"

# ---- 4. the loss curve ----
bin/maskdit-plot "$exp/metrics.jsonl" "$DIR/loss.png"

step=$(basename "$ckpt" .h5)
say "done: $((10#$step)) training steps so far"
echo "  samples (rows: classes 0-9): $DIR/samples/grid.png"
echo "  loss curve:                  $DIR/loss.png"
echo "  experiment (log, metrics):   $exp"
echo "  classes: $(for i in "${!CLASSES[@]}"; do printf '%d %s, ' "$i" "${CLASSES[$i]}"; done | sed 's/, $//')"
echo "  (running the demo again continues from the last checkpoint if the time bound stopped it;"
echo "   DEMO_ARGS=\"--set train.max_num_steps=5000\" trains further)"
