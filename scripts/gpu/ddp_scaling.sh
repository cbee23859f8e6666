#!/usr/bin/env bash
# Issue 6's 2-GPU bound: one GPU against two (torchrun, DDP) for the trainer's default (reversible) model,
# demo recipe's model, 128^3, batch 2 a GPU, 60 timed steps after 8 warm-up, in 4 interleaved rounds.
# The one-GPU figure is measured alone on GPU 0 and alone on GPU 1 (one GPU of the pair may be slower, and DDP
# runs at the slower one's pace), and the order of one-GPU and two-GPU launches alternates between rounds, so a
# drift of the clocks falls on both sides. "independent" is the two GPUs training side by side without
# exchanging gradients: the ceiling of any DDP mode, so its gap to one GPU is contention (host, power) and its
# gap to DDP is communication. The plain (non-reversible) model is timed in round 1 only, for reference.
# Prints the table last. Usage (repo root, GPU machine with 2 GPUs): bash scripts/gpu/ddp_scaling.sh [ROUNDS]
# Environment: PATCH (default 128; "240,240,155" is the trainer's default patch on BraTS volumes: the 16 GiB
# auto-patch probe reaches the case edge, see docs/benchmarks.md), STEPS (60), CONFIG (trainer/configs/demo.toml;
# empty: the trainer's default model), PLAIN (1: also the plain model in round 1).
source scripts/gpu/common.sh
nvidia-smi topo -m > "$OUT/topo.txt" 2>&1; head -4 "$OUT/topo.txt"
ROUNDS=${1:-4}
CONFIG=${CONFIG-trainer/configs/demo.toml}
ARGS="${CONFIG:+--config $CONFIG} --patch ${PATCH:-128} --batch 2 --steps ${STEPS:-60} --warmup 8"
record() { grep '^{' | sed "s/^{/{\"round\": $1, \"gpu\": \"$2\", /" | tee -a "$OUT/scaling.jsonl"; }
one_gpu() {  # round, modes
  for gpu in 0 1; do
    CUDA_VISIBLE_DEVICES=$gpu python3 -m trainer.throughput $ARGS --modes "$2" 2>&1 | record "$1" "$gpu"
  done
}
two_gpus() { torchrun --standalone --nproc_per_node=2 -m trainer.throughput $ARGS --modes "$2" --ddp ddp,independent 2>&1 | record "$1" "0,1"; }
for round in $(seq 1 "$ROUNDS"); do
  modes=reversible; [ "$round" = 1 ] && [ "${PLAIN:-1}" = 1 ] && modes=reversible,plain
  echo "round $round $(date +%T)"
  if [ $((round % 2)) = 1 ]; then one_gpu "$round" "$modes"; two_gpus "$round" "$modes"
  else two_gpus "$round" "$modes"; one_gpu "$round" "$modes"; fi
done
nvidia-smi --query-gpu=index,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu --format=csv > "$OUT/clocks.txt"
python3 scripts/gpu/scaling_table.py "$OUT/scaling.jsonl"
