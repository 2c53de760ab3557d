#!/usr/bin/env bash
# maskdit-plot: a chart of any metric of one run or of several runs (with a legend) from
# metrics.jsonl, the pixels checked with tests/tools/png_read.py; records without the metric (or
# with null) left out; refusals that keep the metrics files intact.
. tests/cli/lib.sh
PLOT=$BIN/maskdit-plot
PY=/usr/bin/python3
M=$TMP/metrics.jsonl
for s in 1 2 3 4; do
    echo "{\"event\": \"train\", \"step\": $s, \"loss\": 0.$((9 - s)), \"steps_per_sec\": 1, \"time\": 0}"
done >"$M"
cp "$M" "$TMP/copy.jsonl"

out=$($PLOT "$M" "$TMP/loss.png" --title "tiny run" 2>&1)
if [[ $out == *"loss.png: 4 points, steps 1 to 4"* ]] && [ "$(head -c 8 "$TMP/loss.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
then pass chart_written; else fail chart_written "$out"; fi
expect_error same_file "the last file named is the chart to write, and this looks like a metrics file" $PLOT "$M" "$M"
ln -s "$M" "$TMP/link.png"
expect_error same_file_by_link "link.png is both the metrics file and the output" $PLOT "$M" "$TMP/link.png"
cmp -s "$M" "$TMP/copy.jsonl" && pass metrics_kept || fail metrics_kept
expect_error title_without_value "--title needs a value" $PLOT "$M" "$TMP/t.png" --title
expect_error missing_metrics "cannot read $TMP/none.jsonl" $PLOT "$TMP/none.jsonl" "$TMP/x.png"
expect_error output_missing "usage: maskdit-plot METRICS.jsonl" $PLOT "$M"

# Two runs of grad_norm (a null norm, an fp16 overflow, is left out; a record without one too).
mkdir -p "$TMP/runA" "$TMP/runB"
{
    echo '{"event": "start", "step": 0, "software": {"git_commit": "x"}, "time": 0}'
    for s in 1 2 3 4 5 6; do echo "{\"event\": \"train\", \"step\": $s, \"loss\": 1, \"grad_norm\": 0.$s, \"time\": 0}"; done
    echo '{"event": "train", "step": 7, "loss": 1, "grad_norm": null, "time": 0}'
} >"$TMP/runA/metrics.jsonl"
for s in 2 4 6 8; do echo "{\"event\": \"train\", \"step\": $s, \"loss\": 1, \"grad_norm\": 0.$((s / 2)), \"time\": 0}"; done \
    >"$TMP/runB/metrics.jsonl"
echo '{"event": "train", "step": 9, "loss": 1, "time": 0}' >>"$TMP/runB/metrics.jsonl"
out=$($PLOT "$TMP/runA/metrics.jsonl" "$TMP/runB/metrics.jsonl" "$TMP/gn.png" --metric grad_norm 2>&1)
[[ $out == *"gn.png: 6 points, steps 1 to 6 (grad_norm of runA)"* && $out == *"gn.png: 4 points, steps 2 to 8 (grad_norm of runB)"* ]] &&
    pass two_runs_one_chart || fail two_runs_one_chart "$out"
# The legend is drawn (both runs' colors appear in the top-right corner), and each curve in its color.
$PY - "$TMP/gn.png" "$TMP/loss.png" <<'PY' && pass chart_colors_and_legend || fail chart_colors_and_legend
import sys
sys.path.insert(0, "tests/tools")
import png_read
def colors(path, x0=0, x1=None, y0=0, y1=None):
    w, h, c, rows = png_read.read(path)
    assert c == 3 and (w, h) == (800, 480), (w, h, c)
    x1, y1 = x1 or w, y1 or h
    return {rows[y][3 * x:3 * x + 3] for y in range(y0, y1) for x in range(x0, x1)}
blue, orange = bytes([30, 90, 200]), bytes([230, 120, 20])
legend = colors(sys.argv[1], 500, 780, 40, 80)
assert blue in legend and orange in legend, "legend swatches"
one = colors(sys.argv[2])
assert blue in one and orange not in one, "a single run is drawn in blue, without a legend"
PY
expect_error metric_absent "none of its 4 training records has a number \"mfu\"" $PLOT "$M" "$TMP/m.png" --metric mfu
