#!/usr/bin/env bash
# Issue 19, GPU end to end after a warm start: the model is loaded and run once, then 3 runs each turn a raw
# native-like four-contrast NIfTI study (each contrast on its own rotated 0.9 x 0.9 x 5 mm grid, so three
# registrations run) into the label NIfTI + DICOM-SEG on disk. Prints the stage times per run and their medians;
# writes $OUT/time_to_result.json and the log. The study is made from CASE (default the packed TCGA-DU-7294
# of scripts/pack_device_data.py, carried as .pack/); that source is skull-stripped, so no skull strip runs.
# Usage (repo root, GPU machine): bash scripts/gpu/bench_time_to_result.sh [CASE]
source scripts/gpu/common.sh
export CUDA_VISIBLE_DEVICES=0
CASE=${1:-.pack/real/TCGA-DU-7294}
[ -d "$CASE" ] || { echo "no case folder $CASE (carry .pack/ from scripts/pack_device_data.py, or pass CASE)"; exit 2; }
python3 scripts/bench_time_to_result.py --warm cuda --case "$CASE" --runs 3 --json "$OUT/time_to_result.json" \
  --work /tmp/revseg-ttr 2>&1 | grep -v Warning | tee "$OUT/time_to_result.log"
