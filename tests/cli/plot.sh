#!/usr/bin/env bash
# maskdit-plot: a chart from a metrics.jsonl, and refusals that keep the metrics file intact.
. tests/cli/lib.sh
PLOT=$BIN/maskdit-plot
M=$TMP/metrics.jsonl
for s in 1 2 3 4; do
    echo "{\"event\": \"train\", \"step\": $s, \"loss\": 0.$((9 - s)), \"steps_per_sec\": 1, \"time\": 0}"
done >"$M"
cp "$M" "$TMP/copy.jsonl"

out=$($PLOT "$M" "$TMP/loss.png" --title "tiny run" 2>&1)
if [[ $out == *"loss.png: 4 points, steps 1 to 4"* ]] && [ "$(head -c 8 "$TMP/loss.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
then pass chart_written; else fail chart_written "$out"; fi
expect_error same_file "$M is both the metrics file and the output" $PLOT "$M" "$M"
ln -s "$M" "$TMP/link.png"
expect_error same_file_by_link "link.png is both the metrics file and the output" $PLOT "$M" "$TMP/link.png"
cmp -s "$M" "$TMP/copy.jsonl" && pass metrics_kept || fail metrics_kept
expect_error title_without_value "--title needs a value" $PLOT "$M" "$TMP/t.png" --title
expect_error missing_metrics "cannot read $TMP/none.jsonl" $PLOT "$TMP/none.jsonl" "$TMP/x.png"
