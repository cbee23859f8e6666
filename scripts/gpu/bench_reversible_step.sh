#!/usr/bin/env bash
# Issue 19: reversible training step in the trainer's default CUDA mode (compiled forward + fused backward
# graphs, the whole step as one CUDA graph) against the plain twin's eager, compiled and graphed steps, at 128^3,
# 192^3 and 256x256x160, plus the reversible step without the whole-step graph and the 128^3 peak-memory ratio.
# One GPU, at most about 7.5 minutes: the compiled modes are first compiled for all crops side by side in spawned
# workers (at most --prewarm-seconds), the timed runs then load the graphs from Inductor's caches; whatever is
# left after --max-seconds is reported as skipped. Every row is timed in 2 rounds, crops rotated (the best round
# counts), and the first crop of each mode is profiled (profile_<mode>_<crop>.txt: top operators by host and by
# device time). MODES=... overrides the modes (the old eager reversible step is left out by default: run RS2
# measured it at 1.70-2.04x).
# Writes $OUT/reversible_step.json and $OUT/reversible_step.log; the table is printed last.
# Usage (repo root, GPU machine): bash scripts/gpu/bench_reversible_step.sh
source scripts/gpu/common.sh
export CUDA_VISIBLE_DEVICES=0
MODES=${MODES:-plain-eager,reversible-compiled,reversible-default,plain-compiled,plain-graphed}
timeout 450 python3 scripts/gpu/bench_reversible_step.py --json "$OUT/reversible_step.json" --max-seconds 420 \
  --prewarm-seconds 160 --rounds 2 --profile --modes "$MODES" \
  2>&1 | grep -v -i warning | tee "$OUT/reversible_step.log"
