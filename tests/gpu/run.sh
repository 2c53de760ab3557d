#!/usr/bin/env bash
# Everything that needs a GPU, in one bounded run (about 4 minutes on one H100; at most
# GPU_BUDGET seconds, default 470):
#   1. build: `make CUDA=1 CUDA_ARCHS=90` where our Debian packages are installed; elsewhere (the
#      lent H100/H200 image: CUDA and PyTorch, no MPI/HDF5/OpenBLAS/libyaml) the programs come
#      prebuilt from .gpukit/kit.tar.xz (tests/gpu/make_kit.sh, with their shared libraries and
#      the Open MPI runtime), and CUDA's own libraries are found on the machine;
#   2. check_ops: every CUDA op against the CPU backend, fresh random inputs, fp32/TF32/bf16/fp16
#      and the cuBLASLt fallback (the MLP ops with the GELU in the cuBLASLt epilogue and separate,
#      the bias gradients in the cuBLASLt epilogue and as GEMVs, conv2d through cuDNN and im2col);
#   3. check_step: a full training step of a small model against the CPU backend (fp32/bf16/fp16);
#   4. golden parity in fp32 on the GPU (maskdit-golden --device cuda) for the shared tiny file
#      and the variants in tests/golden/;
#   5. maskdit-train and maskdit-generate on a tiny model (tests/gpu/train_smoke.sh): fp32 against
#      the CPU, bf16/fp16 resume equal to an uninterrupted run, sampling against the CPU; then the
#      NCCL all-reduce over all GPUs (only with more than one);
#   6. benchmarks: the time of every op at the shapes of an XL/2 step (bench_ops; attention also on
#      each path, MASKDIT_ATTENTION=flash and =gemm, the MLP ops on each GELU path,
#      MASKDIT_GELU_EPILOGUE=1 and =0, the linear backwards on each bias-gradient path,
#      MASKDIT_BGRAD_EPILOGUE=1 and =0), then MaskDiT-XL/2 in bf16 (default paths), 256 px (batch 32
#      and 128) and 512 px (batch 32), next to the same model in PyTorch AMP
#      (tests/gpu/torch_maskdit.py) on the same GPU; the VAE decode and encode at 256 and 512 px in
#      bf16 (bench_vae) next to diffusers' AutoencoderKL in PyTorch bf16 (tests/bench/vae_torch.py),
#      at 256 px also with MASKDIT_CONV=gemm (im2col + GEMMs instead of cuDNN).
# Each part runs under its own time limit and a failure does not stop the later parts. Everything
# goes to $OUT/results.txt; the table at the end is also written to $OUT/summary.txt.
#
#   bash tests/gpu/make_kit.sh    (on the build machine, once per change; then carry `.gpukit`)
#   bash tests/gpu/run.sh         (on the GPU machine, from the repository root)
# GPU_USE_KIT=1 takes the kit even where the packages are installed; GPU_USE_BUILD=1 takes bin/ as
# it is (built with the site's libraries, INSTALL.md); GPU_BUDGET=seconds; OUT=dir.
set -u
cd "$(dirname "$0")/../.."
T0=$SECONDS
BUDGET=${GPU_BUDGET:-470}
OUT=${OUT:-$PWD/results/gpu}
mkdir -p "$OUT"
RES=$OUT/results.txt
SUM=$OUT/summary.txt
: >"$RES"
LOGDIR=$(mktemp -d /tmp/maskdit-gpu.XXXXXX)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}   # dense bf16, H100 SXM and H200 (datasheet)
declare -a TABLE CHECKS
declare -A RC

log() { echo "$*" | tee -a "$RES"; }

# part NAME MAX_SECONDS command... : run with a limit of min(MAX, what is left - 15 s), output into
# $LOGDIR/NAME.log and results.txt; skipped when less than 20 s would be left. Returns the exit status.
part() {
    local name=$1 max=$2
    shift 2
    local left=$((BUDGET - (SECONDS - T0) - 15))
    local lim=$((max < left ? max : left))
    if [ "$lim" -lt 20 ]; then
        log "== $name: SKIPPED (time budget of ${BUDGET}s spent)"
        return 124
    fi
    log "== $name (limit ${lim}s): $*"
    local t=$SECONDS
    timeout -k 5 "$lim" "$@" >"$LOGDIR/$name.log" 2>&1
    local rc=$?
    cat "$LOGDIR/$name.log" >>"$RES"
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && log "   (stopped at its ${lim}s limit)"
    log "== $name: exit $rc after $((SECONDS - t))s"
    RC[$name]=$rc
    return "$rc"
}

# "N passed, M failed" of a part, and why it ended when it ended badly without a FAIL line
tally() {
    local p f
    p=$(count PASS "$1") f=$(count FAIL "$1")
    echo -n "$p passed, $f failed"
    if [ "${RC[$1]:-124}" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo -n " (exit ${RC[$1]:-skipped}: $(tail -n 1 "$LOGDIR/$1.log" 2>/dev/null | cut -c1-100))"
    fi
    echo
}

why_not() {   # log: why a benchmark gave no result (a skipped part leaves no log)
    if [ -f "$1" ]; then echo "failed: $(grep -m1 -i 'error' "$1" | cut -c1-80)"; else echo "skipped (time budget spent)"; fi
}

count() {   # count PASS|FAIL part: result lines of a part's log
    local n
    n=$(grep -c "^$1 " "$LOGDIR/$2.log" 2>/dev/null)
    echo "${n:-0}"
}

# ---- 0. the machine ----
log "MaskDiT-C GPU run, $(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader 2>&1 | tee -a "$RES"
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
log "GPUs: $NGPU; $(nvcc --version 2>/dev/null | tail -1); $(ldd --version 2>&1 | head -1); $(nproc) cores"
TORCH=$(python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)
log "python3 torch: $TORCH"

# ---- 1. build, or the prebuilt kit ----
KIT=/tmp/maskdit-kit
RUN=(env)   # the environment our programs run in (the kit's libraries, when it is used)
if [ "${GPU_USE_BUILD:-0}" = 1 ]; then
    log "== build: GPU_USE_BUILD=1: the programs already built in bin/ (e.g. against a cluster's modules)"
    BIN=bin
    GOLDEN=../shared/golden/maskdit_tiny.h5
elif [ "${GPU_USE_KIT:-0}" != 1 ] && command -v mpicc >/dev/null && pkg-config --exists hdf5-openmpi 2>/dev/null &&
    command -v nvcc >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so ]; then
    part build 300 make CUDA=1 CUDA_ARCHS=90 -j"$(nproc)" && BIN=bin || BIN=
    GOLDEN=../shared/golden/maskdit_tiny.h5
elif [ -f .gpukit/kit.tar.xz ]; then
    log "== build: no MPI/HDF5/OpenBLAS development packages here: using the prebuilt kit .gpukit/kit.tar.xz"
    rm -rf "$KIT" && mkdir -p "$KIT"
    # python3's tarfile reads xz where the xz program is missing
    if command -v xz >/dev/null; then tar -C "$KIT" -xJf .gpukit/kit.tar.xz
    else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' .gpukit/kit.tar.xz "$KIT"; fi
    # gcc's runtime libraries: the machine's own (newer, and what its CUDA libraries expect) when present
    mkdir -p "$KIT/lib-unused"
    for l in libstdc++.so.6 libgcc_s.so.1 libgomp.so.1 libgfortran.so.5 libquadmath.so.0 libatomic.so.1; do
        ldconfig -p | grep -q "^[[:space:]]*$l " && [ -e "$KIT/lib/$l" ] && mv "$KIT/lib/$l" "$KIT/lib-unused/"
    done
    # CUDA's libraries (cudart, cuBLAS(Lt), NCCL, cuDNN): the toolkit's, or those of the Python packages
    CUDA_DIRS=
    for l in libcudart.so.13 libcublasLt.so.13 libcublas.so.13 libnccl.so.2 libcudnn.so.9; do
        ldconfig -p | grep -q "^[[:space:]]*$l " && continue
        f=$(find /usr/local/cuda/lib64/ /usr/local/cuda/targets/ /usr/local/ /opt/ /usr/lib/ -name "$l" -print -quit \
            2>/dev/null)
        if [ -n "$f" ]; then CUDA_DIRS="$CUDA_DIRS:$(dirname "$f")"; else log "   $l not found on this machine"; fi
    done
    KIT_LD="$KIT/lib$CUDA_DIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    log "   library path: $KIT_LD"
    RUN=(env LD_LIBRARY_PATH="$KIT_LD" OPAL_PREFIX="$KIT/ompi" PMIX_INSTALL_PREFIX="$KIT/pmix"
        OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_plm=isolated PATH="$KIT/ompi/bin:$PATH")
    BIN=$KIT/bin
    GOLDEN=$KIT/golden/maskdit_tiny.h5
    "${RUN[@]}" ldd "$BIN/gpu/check_ops" | grep 'not found' | tee -a "$RES"
else
    log "== build: impossible here (no MPI/HDF5/OpenBLAS packages and no .gpukit/kit.tar.xz: run" \
        "tests/gpu/make_kit.sh on the build machine and carry .gpukit); only PyTorch is measured"
    BIN=
fi

# ---- 2-5. correctness ----
if [ -n "$BIN" ]; then
    # one process per precision, launches synchronous (an error names the kernel that caused it);
    # a crash is rerun once under compute-sanitizer with the same inputs to locate it
    for p in fp32 tf32 bf16 fp16 nolt; do
        part "ops-$p" 90 "${RUN[@]}" CUDA_LAUNCH_BLOCKING=1 "$BIN/gpu/check_ops" --precision "$p"
        rc=${RC[ops-$p]:-124}
        CHECKS+=("op checks $p (check_ops): $(tally "ops-$p")")
        # crashed: ended (not at its limit, not "no GPU") without its summary line
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] &&
            ! grep -q '^check_ops: [0-9]* passed' "$LOGDIR/ops-$p.log" && command -v compute-sanitizer >/dev/null; then
            seed=$(sed -n 's/^check_ops: seed \([0-9]*\).*/\1/p' "$LOGDIR/ops-$p.log")
            part "sanitize-$p" 120 "${RUN[@]}" compute-sanitizer --print-limit 10 "$BIN/gpu/check_ops" --precision "$p" \
                ${seed:+--seed "$seed"}
            CHECKS+=("  compute-sanitizer on $p: $(grep -m2 'Invalid\|ERROR SUMMARY' "$LOGDIR/sanitize-$p.log" | tr '\n' ' ')")
        fi
    done
    part step 120 "${RUN[@]}" CUDA_LAUNCH_BLOCKING=1 "$BIN/gpu/check_step"
    CHECKS+=("training step vs CPU (check_step): $(tally step)")
    gp=0 gf=0
    for f in "$GOLDEN" tests/golden/maskdit_*.h5; do
        [ -f "$f" ] || continue
        n=golden-$(basename "$f" .h5)
        part "$n" 90 "${RUN[@]}" "$BIN/maskdit-golden" "$f" --device cuda --precision fp32
        gp=$((gp + $(count PASS "$n"))) gf=$((gf + $(count FAIL "$n")))
        grep -q '^FAIL\|error' "$LOGDIR/$n.log" && CHECKS+=("  $n: $(grep -m3 '^FAIL\|error' "$LOGDIR/$n.log" | tr '\n' ' ')")
    done
    CHECKS+=("golden parity fp32 on the GPU (maskdit-golden): $gp passed, $gf failed")
    # the GELU epilogue in fp32/TF32 (not their default path): how far cuBLASLt's GELU is from the CPU's
    for p in fp32 tf32; do
        while IFS= read -r line; do CHECKS+=("  GELU epilogue in $p: $line"); done < <(grep -hE \
            "mlp\[epilogue 256x1152x4608 bias bgrad-epilogue\].* (linear_gelu act|dpre) " "$LOGDIR/ops-$p.log" 2>/dev/null |
            cut -c1-110)
    done
    # the bias gradient's two paths in fp32/TF32 (a sum in another order: the epilogue is the default there too)
    for p in fp32 tf32; do
        while IFS= read -r line; do CHECKS+=("  bias gradient in $p: $line"); done < <(grep -hE \
            "linear\[256x1152x3456 bias bgrad-(epilogue|gemv)\].* dbias " "$LOGDIR/ops-$p.log" 2>/dev/null | cut -c1-110)
    done
    # the training loop and sampling end to end (a tiny model: fp32 vs CPU, bf16/fp16 resume)
    part train 150 bash tests/gpu/train_smoke.sh "$BIN" "${RUN[@]}"
    CHECKS+=("training and sampling on the GPU (train_smoke): $(tally train)")
    while IFS= read -r line; do CHECKS+=("  $line"); done < <(grep -m4 '^FAIL' "$LOGDIR/train.log" 2>/dev/null | cut -c1-160)
    if [ "$NGPU" -gt 1 ]; then
        part nccl 120 "${RUN[@]}" mpirun -np "$NGPU" "$BIN/gpu/check_nccl"
        CHECKS+=("NCCL all-reduce over $NGPU GPUs: $(grep -h 'nccl/allreduce\|bus bandwidth' "$LOGDIR/nccl.log" | tr '\n' ' ')")
    else
        CHECKS+=("NCCL all-reduce: not run ($NGPU GPU)")
    fi
fi

# ---- 6. benchmarks: MaskDiT-XL/2, bf16, mask ratio 0.5 ----
# first the time of every op at the shapes of a batch-128 step (where the step's time goes)
if [ -n "$BIN" ]; then
    part ops-timing 90 "${RUN[@]}" "$BIN/gpu/bench_ops" --batch 128
    CHECKS+=("per-op timing (bench_ops, XL/2 256 px b128): $(grep -m1 '^sum over one step' "$LOGDIR/ops-timing.log" || echo "no result (exit ${RC[ops-timing]:-skipped})")")
    # attention and the MLP ops of each block kind, on the default path and on each path alone
    while IFS= read -r line; do CHECKS+=("  $line"); done < <(grep -E \
        '^(encoder|decoder) block|attention \((fwd|bwd)\)|linear_gelu|gelu_linear_backward|gelu \(recomputed|bgrad (epilogue|gemv)' \
        "$LOGDIR/ops-timing.log" 2>/dev/null)
    # the linear backwards of a step on each bias-gradient path (the lines above times their blocks' counts)
    CHECKS+=("bias gradients, linear backwards of a step: $(awk '
        /^(encoder|decoder) block/ { match($0, /\(x[0-9]+ per step\)/); c = substr($0, RSTART + 2, RLENGTH - 12) + 0 }
        /\[bgrad (epilogue|gemv), not in the sum\]/ {
            match($0, /\] +[0-9.]+ ms/); v = substr($0, RSTART + 1, RLENGTH - 3) * c
            if ($0 ~ /bgrad epilogue/) e += v; else g += v }
        END { if (e + g > 0) printf "%.2f ms with the epilogue, %.2f ms with GEMVs", e, g; else printf "no result" }' \
        "$LOGDIR/ops-timing.log" 2>/dev/null)")
fi
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
for cfg in "32 32 256px" "32 128 256px" "64 32 512px"; do
    set -- $cfg
    in=$1 batch=$2 label="XL/2 $3 b$2"
    tag=${3}-b$2
    if [ -n "$BIN" ]; then
        part "ours-$tag" 150 "${RUN[@]}" "$BIN/maskdit-bench" --model_type DiT-XL/2 --input_size "$in" --batch "$batch" \
            --device cuda --precision bf16 --steps 10 --warmup 3
        L=$LOGDIR/ours-$tag.log
        ms=$(sed -n 's/.*median \([0-9.]*\) ms\/step (\([0-9.]*\) images\/s).*/\1/p' "$L" | tail -1)
        ips=$(sed -n 's/.*median \([0-9.]*\) ms\/step (\([0-9.]*\) images\/s).*/\2/p' "$L" | tail -1)
        gf=$(sed -n 's/.*GFLOP -> \([0-9.]*\) GFLOP\/s.*/\1/p' "$L" | tail -1)
        mem=$(sed -n 's/.*backend allocations \([0-9.]* [KMGT]*i*B\).*/\1/p' "$L" | tail -1)
        host=$(sed -n "s/.*preparing the next step's inputs \([0-9.]*\) ms.*/\1/p" "$L" | tail -1)
        [ -n "$host" ] && CHECKS+=("host work per step, $label: $host ms (next step's inputs, overlapped with the GPU)")
        if [ -n "$ms" ]; then
            TABLE+=("$(printf '%-18s %-10s %9s %9s %8.1f %6.1f %10s' "$label" maskdit-c "$ms" "$ips" \
                "$(awk -v g="$gf" 'BEGIN { print g / 1000 }')" "$(awk -v g="$gf" -v p="$PEAK_TFLOPS" 'BEGIN { print 100 * g / 1000 / p }')" \
                "$mem")")
        else
            TABLE+=("$(printf '%-18s %-10s %s' "$label" maskdit-c "$(why_not "$L")")")
        fi
    fi
    if [ "$TORCH" != none ]; then
        part "torch-$tag" 180 env PYTHONUNBUFFERED=1 python3 tests/gpu/torch_maskdit.py --model_type DiT-XL/2 \
            --input_size "$in" --batch "$batch" --steps 10 --warmup 3 --peak_tflops "$PEAK_TFLOPS"
        L=$LOGDIR/torch-$tag.log
        if grep -q '^RESULT' "$L"; then
            TABLE+=("$(printf '%-18s %-10s %9s %9s %8s %6s %10s' "$label" pytorch "$(field ms "$L")" "$(field images_s "$L")" \
                "$(field tflops "$L")" "$(field mfu "$L")" "$(field peak_gib "$L") GiB")")
        else
            TABLE+=("$(printf '%-18s %-10s %s' "$label" pytorch "$(why_not "$L")")")
        fi
    fi
done

# the VAE (KL-f8, bf16): decode and encode at 256 and 512 px, next to diffusers' AutoencoderKL in
# PyTorch bf16 autocast (tests/bench/vae_torch.py) on the same GPU
for size in 256 512; do
    if [ -n "$BIN" ]; then
        part "vae-ours-$size" 60 "${RUN[@]}" "$BIN/bench/bench_vae" --device cuda --precision bf16 --size "$size" \
            --batch 8 --repeat 5
        CHECKS+=("VAE $size px, ours: $(grep -m1 'decode ' "$LOGDIR/vae-ours-$size.log" | sed 's/.*on cuda[^:]*: //' ||
            echo "no result (exit ${RC[vae-ours-$size]:-skipped})")")
        # the default conv path is cuDNN where the build has it: at 256 px also im2col + GEMMs
        if [ "$size" = 256 ]; then
            CHECKS+=("  conv path: $(grep -hom1 'convolutions [^,]*' "$LOGDIR/vae-ours-$size.log" || echo unknown)")
            part "vae-gemm-$size" 60 "${RUN[@]}" MASKDIT_CONV=gemm "$BIN/bench/bench_vae" --device cuda --precision bf16 \
                --size "$size" --batch 8 --repeat 5
            CHECKS+=("VAE $size px, ours, MASKDIT_CONV=gemm: $(grep -m1 'decode ' "$LOGDIR/vae-gemm-$size.log" |
                sed 's/.*on cuda[^:]*: //' || echo "no result (exit ${RC[vae-gemm-$size]:-skipped})")")
        fi
    fi
    if [ "$TORCH" != none ] && python3 -c 'import diffusers' 2>/dev/null; then
        part "vae-torch-$size" 90 python3 tests/bench/vae_torch.py --device cuda --bf16 --size "$size" --batch 8 \
            --repeat 5
        CHECKS+=("VAE $size px, pytorch: $(grep -m1 '^pytorch' "$LOGDIR/vae-torch-$size.log" | sed 's/.*: decode/decode/' ||
            echo "no result")")
    fi
done

# which GELU and bias-gradient paths the benchmarked model ran, and every shape where cuBLASLt had no
# algorithm for an epilogue, or refused the one its heuristic chose (those ran the separate kernels
# or the GEMV; check_ops' width-100 MLP case is one by design)
if [ -n "$BIN" ]; then
    CHECKS+=("MLP GELU of the benchmarked model: $(grep -ho 'MLP GELU [a-z ]*' "$LOGDIR"/ours-*.log 2>/dev/null | sort -u | tr '\n' ' ')")
    CHECKS+=("bias gradients of the benchmarked model: $(grep -ho 'bias gradients [a-zA-Z ]*' "$LOGDIR"/ours-*.log 2>/dev/null | sort -u | tr '\n' ' ')")
    CHECKS+=("GELU epilogue fallbacks: $(cat "$LOGDIR"/*.log 2>/dev/null | grep -c 'GELU epilogue: cuBLASLt') lines")
    CHECKS+=("bias-gradient epilogue fallbacks: $(cat "$LOGDIR"/*.log 2>/dev/null | grep -c 'bias-gradient epilogue: cuBLASLt') lines")
    while IFS= read -r line; do CHECKS+=("  $line"); done < <(cat "$LOGDIR"/*.log 2>/dev/null |
        grep -oE "cuBLASLt (has no algorithm|refused the heuristic.s algorithm) for [^:]*" | sort | uniq -c | head -12)
fi

# ---- summary ----
{
    echo
    echo "==== summary: $GPU_NAME, $(nproc) cores, torch $TORCH, $((SECONDS - T0)) s ===="
    for c in "${CHECKS[@]}"; do echo "$c"; done
    echo "MFU = model FLOPs per step (src/model/flops.c: 6 MKN per Linear, 4 MKN for the patch embedding,"
    echo "      12 N T^2 E per attention layer) / step time / $PEAK_TFLOPS TFLOP/s (dense bf16 peak)"
    printf '%-18s %-10s %9s %9s %8s %6s %10s\n' config impl ms/step images/s TFLOP/s MFU% "peak mem"
    for r in "${TABLE[@]}"; do echo "$r"; done
} | tee "$SUM" | tee -a "$RES"
rm -rf "$LOGDIR"
