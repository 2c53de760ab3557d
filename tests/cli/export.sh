#!/usr/bin/env bash
# maskdit-ckpt export (issue 18): .pt in the original's layout and safetensors, each read back by a
# reader independent of our writer and compared bit for bit with the HDF5 checkpoint (h5py):
# Python's zipfile + pickle with stand-ins for torch's rebuild functions (tests/tools/pt_read.py),
# a reader of the documented safetensors layout, and, when they are installed, torch.load
# (weights_only=True; the weights then load strictly into the reference model and the optimizer
# state into torch.optim.AdamW) and the safetensors package. Round trip: export .pt, import it
# again, every tensor equal. Bad flags and writing over the input are refused.
. tests/cli/lib.sh
export OMP_NUM_THREADS=1
PY=/usr/bin/python3   # numpy and h5py from the Makefile's Debian packages
TPY=python3           # torch and safetensors from pip (optional: their cases are skipped without them)
CK="$BIN/maskdit-ckpt"

$PY tests/tools/synthetic_idx.py "$TMP" 64
$BIN/maskdit-convert idx --images "$TMP/img.idx" --labels "$TMP/lab.idx" --out "$TMP/data" --no-progress >/dev/null 2>&1 ||
    fail dataset "maskdit-convert idx failed"
tiny_train_config "$TMP/tiny.yaml" "$TMP/data" train.max_num_steps=3
$BIN/maskdit-train --config "$TMP/tiny.yaml" --results_dir "$TMP/r" >"$TMP/train.log" 2>&1 || fail train "$(tail -n 3 "$TMP/train.log")"
H5=$(ls "$TMP"/r/*/checkpoints/0000003.h5)

expect_ok export_pt_all $CK export --format pt "$H5" "$TMP/all.pt"
expect_ok export_pt_ema $CK export --format=pt --weights ema "$H5" "$TMP/ema.pt"
expect_ok export_safetensors_ema $CK export --format safetensors "$H5" "$TMP/ema.safetensors"
expect_ok export_safetensors_all $CK export --format safetensors --weights all "$H5" "$TMP/all.safetensors"
expect_ok export_safetensors_model $CK export --format safetensors --weights model "$H5" "$TMP/model.safetensors"

# ---- .pt through zipfile + pickle stand-ins: every tensor bit for bit, the optimizer layout, args ----
$PY - "$TMP/all.pt" "$TMP/ema.pt" "$H5" <<'PY' && pass pt_read_without_torch || fail pt_read_without_torch
import sys
import h5py, numpy as np
sys.path.insert(0, "tests/tools")
import pt_read
c, e, h = pt_read.load(sys.argv[1]), pt_read.load(sys.argv[2]), h5py.File(sys.argv[3], "r")
assert list(c) == ["model", "ema", "opt", "args"] and list(e) == ["ema", "args"], (list(c), list(e))
names = list(c["model"])
assert names == list(c["ema"]) and len(names) == len(h["model"]), names
for sec in ("model", "ema"):
    for n in names:
        assert np.array_equal(c[sec][n], h[sec][n][()]) and c[sec][n].dtype == np.float32, (sec, n)
        assert np.array_equal(e["ema"][n], h["ema"][n][()]), n
opt = c["opt"]
g = opt["param_groups"]
assert len(g) == 1 and g[0]["params"] == list(range(len(names))), g[0]["params"]
assert g[0]["betas"] == (0.9, 0.999) and g[0]["eps"] == 1e-8 and g[0]["weight_decay"] == 0, g[0]
assert g[0]["lr"] == h.attrs["lr"], (g[0]["lr"], h.attrs["lr"])
frozen = {"model.pos_embed", "model.decoder_pos_embed"}
assert sorted(opt["state"]) == [i for i, n in enumerate(names) if n not in frozen], sorted(opt["state"])
for i, st in opt["state"].items():
    assert float(st["step"]) == 3.0 and st["step"].shape == (), st["step"]
    for m in ("exp_avg", "exp_avg_sq"):
        assert np.array_equal(st[m], h["opt"][m][names[i]][()]), (m, names[i])
a = c["args"]
assert a["step"] == 3 and a["global_seed"] == h.attrs["seed"], a
mc = a["model_config"]
assert (mc["hidden_size"], mc["depth"], mc["num_heads"], mc["patch_size"], mc["sigma_max"]) == (32, 1, 2, 4, "inf"), mc
PY

# ---- round trip: the exported .pt imported again equals the checkpoint, every tensor bitwise ----
$CK import "$TMP/all.pt" "$TMP/back.h5" >"$TMP/import.log" 2>&1 || fail round_trip_import "$(cat "$TMP/import.log")"
$PY tests/tools/ckpt_compare.py "$H5" "$TMP/back.h5" >"$TMP/cmp" && pass round_trip_pt_bitwise ||
    fail round_trip_pt_bitwise "$(cat "$TMP/cmp")"
grep -q "num_heads 2 from args.model_config" "$TMP/import.log" && pass round_trip_heads_from_args ||
    fail round_trip_heads_from_args "$(cat "$TMP/import.log")"

# ---- safetensors through a reader of the documented layout ----
$PY - "$TMP" "$H5" <<'PY' && pass safetensors_read_by_format || fail safetensors_read_by_format
import json, struct, sys
import h5py, numpy as np
d, h = sys.argv[1], h5py.File(sys.argv[2], "r")
def read(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, n
    head = json.loads(raw[8:8 + n])
    meta = head.pop("__metadata__")
    data, end = raw[8 + n:], 0
    out = {}
    for name, t in sorted(head.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, e = t["data_offsets"]
        assert t["dtype"] == "F32" and b == end, (name, t, end)   # no holes, no overlaps
        out[name] = np.frombuffer(data[b:e], "<f4").reshape(t["shape"])
        end = e
    assert end == len(data), (end, len(data))
    return meta, out
names = list(h["model"])
meta, ema = read(d + "/ema.safetensors")
assert meta["format"] == "pt" and meta["step"] == "3" and json.loads(meta["model_config"])["hidden_size"] == 32, meta
assert sorted(ema) == sorted(names), sorted(ema)
assert all(np.array_equal(ema[n], h["ema"][n][()]) for n in names)
_, model = read(d + "/model.safetensors")
assert all(np.array_equal(model[n], h["model"][n][()]) for n in names)
_, both = read(d + "/all.safetensors")
assert sorted(both) == sorted(["model." + n for n in names] + ["ema." + n for n in names]), sorted(both)[:4]
assert all(np.array_equal(both[s + "." + n], h[s][n][()]) for s in ("model", "ema") for n in names)
PY

# ---- the real readers, where installed ----
if reason=$($TPY -c 'import torch' 2>&1); then
    $TPY - "$TMP/all.pt" "$H5" <<'PY' && pass torch_load_weights_only || fail torch_load_weights_only
import sys
import h5py, numpy as np, torch
sys.path.insert(0, "../shared/reference")
c = torch.load(sys.argv[1], weights_only=True)   # refuses any object but tensors and plain containers
h = h5py.File(sys.argv[2], "r")
for sec in ("model", "ema"):
    for n, t in c[sec].items():
        assert t.dtype == torch.float32 and np.array_equal(t.numpy(), h[sec][n][()]), (sec, n)
try:
    import maskdit_ref as R   # the PyTorch reference model: the original's parameter names and shapes
except ImportError:
    sys.exit(0)
mc = dict(c["args"]["model_config"])
mc["sigma_max"] = float(mc["sigma_max"])
net = R.EDMPrecond(R.MaskDiTConfig(**mc))
net.load_state_dict(c["ema"], strict=True)
opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0)
opt.load_state_dict(c["opt"])   # the original resumes with AdamW(model.parameters()).load_state_dict
assert len(opt.state) == len(c["opt"]["state"])
PY
else
    skip torch_load_weights_only "python3 cannot import torch: ${reason##*$'\n'}"
fi
if reason=$($TPY -c 'import safetensors' 2>&1); then
    $TPY - "$TMP/all.safetensors" "$H5" <<'PY' && pass safetensors_package_reads || fail safetensors_package_reads
import sys
import h5py, numpy as np
from safetensors import safe_open
h = h5py.File(sys.argv[2], "r")
with safe_open(sys.argv[1], framework="numpy") as f:
    assert f.metadata()["step"] == "3"
    keys = list(f.keys())
    assert len(keys) == 2 * len(h["model"]), len(keys)
    for k in keys:
        sec, name = k.split(".", 1)
        assert np.array_equal(f.get_tensor(k), h[sec][name][()]), k
PY
else
    skip safetensors_package_reads "python3 cannot import safetensors: ${reason##*$'\n'}"
fi

# ---- bad input ----
expect_error no_format "--format: expected pt or safetensors, got none" $CK export "$H5" "$TMP/x.pt"
expect_error bad_format "--format: expected pt or safetensors, got 'onnx'" $CK export --format onnx "$H5" "$TMP/x.pt"
expect_error bad_weights "--weights: expected ema, model or all, got 'best'" $CK export --format pt --weights best "$H5" "$TMP/x.pt"
expect_error missing_output "export needs CKPT and OUT" $CK export --format pt "$H5"
cp "$H5" "$TMP/in.h5"
expect_error output_is_input "is both the checkpoint and the output" $CK export --format pt "$TMP/in.h5" "$TMP/in.h5"
cmp -s "$H5" "$TMP/in.h5" && pass input_kept || fail input_kept "the input changed"
expect_error missing_section "holds no model weights (--weights model)" $CK export --format pt --weights model "$TMP/ema.pt" "$TMP/x.pt"
expect_error unwritable_output "cannot create $TMP/no/dir/x.safetensors.tmp" $CK export --format safetensors "$H5" "$TMP/no/dir/x.safetensors"
expect_error unwritable_pt "$TMP/no/dir/x.pt" $CK export --format pt "$H5" "$TMP/no/dir/x.pt"
# An exported .pt holding only the EMA weights exports again: the same tensors, its step (args),
# its heads (args.model_config).
expect_ok export_from_pt $CK export --format safetensors "$TMP/ema.pt" "$TMP/again.safetensors"
$PY - "$TMP/ema.safetensors" "$TMP/again.safetensors" <<'PY' && pass export_from_pt_same_tensors || fail export_from_pt_same_tensors
import json, struct, sys
def read(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    head = json.loads(raw[8:8 + n])
    return head.pop("__metadata__"), head, raw[8 + n:]
(ma, ha, da), (mb, hb, db) = read(sys.argv[1]), read(sys.argv[2])
assert ha == hb and da == db, "tensors differ"
assert ma["step"] == mb["step"] == "3", (ma["step"], mb["step"])
assert json.loads(ma["model_config"])["num_heads"] == json.loads(mb["model_config"])["num_heads"] == 2
PY
