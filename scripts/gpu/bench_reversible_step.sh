#!/usr/bin/env bash
# Issue 19: reversible training step in the trainer's default CUDA mode (compiled forward + fused backward
# graphs) against the plain twin's eager and compiled steps, at 128^3, 192^3 and 256x256x160, plus the old
# eager reversible step and the 128^3 peak-memory ratio. One GPU, at most about 7 minutes: the compiled modes
# are first compiled for all crops side by side in spawned workers (at most --prewarm-seconds), the timed runs
# then load the graphs from Inductor's caches; whatever is left after --max-seconds is reported as skipped.
# Every row is timed in 2 rounds, crops rotated (the best round counts), and the first crop of each mode is
# profiled (profile_<mode>_<crop>.txt: top operators by host and by device time).
# Writes $OUT/reversible_step.json and $OUT/reversible_step.log; the table is printed last.
# Usage (repo root, GPU machine): bash scripts/gpu/bench_reversible_step.sh
source scripts/gpu/common.sh
export CUDA_VISIBLE_DEVICES=0
timeout 420 python3 scripts/gpu/bench_reversible_step.py --json "$OUT/reversible_step.json" --max-seconds 390 \
  --prewarm-seconds 160 --rounds 2 --profile \
  2>&1 | grep -v -i warning | tee "$OUT/reversible_step.log"
