"""Reads TensorBoard event files with the tensorboard package's own reader (which checks every
record's masked CRC32C) and prints what tests/cli/observability.sh asserts, as JSON:
  {"files": [{"path": ..., "file_version": ..., "scalars": {tag: [[step, value], ...]},
              "images": {tag: [[step, height, width, png_bytes]]}}]}
usage: tb_read.py EVENT_FILE...   (exit status 2 when the tensorboard package is missing)"""
import json
import sys

try:
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
except ImportError as err:
    print(f"the tensorboard package is not importable: {err}", file=sys.stderr)
    sys.exit(2)

out = {"files": []}
for path in sys.argv[1:]:
    f = {"path": path, "file_version": None, "scalars": {}, "images": {}, "events": 0}
    # LegacyEventFileLoader yields the Event protos as stored (simple_value, image), unconverted
    for ev in LegacyEventFileLoader(path).Load():
        f["events"] += 1
        if ev.HasField("file_version"):
            f["file_version"] = ev.file_version
        for v in ev.summary.value:
            if v.HasField("simple_value"):
                f["scalars"].setdefault(v.tag, []).append([ev.step, v.simple_value])
            elif v.HasField("image"):
                im = v.image
                f["images"].setdefault(v.tag, []).append([ev.step, im.height, im.width, len(im.encoded_image_string),
                                                           im.encoded_image_string[:8].hex()])
    out["files"].append(f)
json.dump(out, sys.stdout)
