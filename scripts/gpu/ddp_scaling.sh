#!/usr/bin/env bash
# Issue 6's 2-GPU bound: one GPU against two (torchrun, DDP), reversible and plain, demo recipe's model, 128^3,
# batch 2 a GPU; three interleaved rounds of 60 steps (the one-GPU figure drifted by up to 16% between rounds of
# 30 steps, runs U1 and U2 in docs/benchmarks.md), and the scaling of the rounds' mean throughputs.
# "independent" is the two GPUs training side by side without exchanging gradients: the ceiling of any DDP mode,
# so its gap to one GPU is contention (host, power), and its gap to DDP is communication. Prints the table last.
# Usage (repo root, GPU machine with 2 GPUs): bash scripts/gpu/ddp_scaling.sh
source scripts/gpu/common.sh
nvidia-smi topo -m > "$OUT/topo.txt" 2>&1; head -4 "$OUT/topo.txt"
ARGS="--config trainer/configs/demo.toml --patch 128 --batch 2 --steps 60 --warmup 8"
record() { grep '^{' | sed "s/^{/{\"round\": \"$1\", /" | tee -a "$OUT/scaling.jsonl"; }
for round in 1 2 3; do
  CUDA_VISIBLE_DEVICES=0 python3 -m trainer.throughput $ARGS --modes reversible,plain 2>&1 | record $round
  torchrun --standalone --nproc_per_node=2 -m trainer.throughput $ARGS --modes reversible,plain --ddp ddp,static,independent 2>&1 | record $round
done
python3 - "$OUT/scaling.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
one = {(r["round"], r["mode"]): r for r in rows if r["processes"] == 1}
print("| round | mode | ddp | 1 GPU patches/s | 2 GPUs patches/s | scaling | CPU s/step rank 0 (1 GPU / 2); ranks' s/step |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    base = one.get((r["round"], r["mode"]))
    if r["processes"] > 1 and base:
        print(f"| {r['round']} | {r['mode']} | {r['ddp']} | {base['patches_per_s']:.1f} | {r['patches_per_s']:.1f} | "
              f"{r['patches_per_s'] / base['patches_per_s']:.2f}x | {base['cpu_seconds_per_step_rank0']:.3f} / "
              f"{r['cpu_seconds_per_step_rank0']:.3f} (wall {base['seconds_per_step']:.3f} / {r['seconds_per_step']:.3f}); "
              f"{r['fastest_rank_seconds_per_step']:.3f}-{r['slowest_rank_seconds_per_step']:.3f} |")
for key in sorted({(r["mode"], r["ddp"]) for r in rows if r["processes"] > 1}):
    two = [r["patches_per_s"] for r in rows if r["processes"] > 1 and (r["mode"], r["ddp"]) == key]
    one = [r["patches_per_s"] for r in rows if r["processes"] == 1 and r["mode"] == key[0]]
    print(f"| mean of rounds | {key[0]} | {key[1]} | {sum(one) / len(one):.1f} | {sum(two) / len(two):.1f} | "
          f"{sum(two) / len(two) / (sum(one) / len(one)):.2f}x | |")
PY
