#!/usr/bin/env bash
# Why DDP loses ~10% against two independent GPUs (run V1 of docs/benchmarks.md): NCCL's transport and the
# time of one gradient all-reduce, then DDP with bf16 gradients against default DDP and the independent ceiling,
# at the demo recipe's 128^3 x 2 and at batch 4. Usage: bash scripts/gpu/ddp_probe.sh
source scripts/gpu/common.sh
NCCL_DEBUG=INFO torchrun --standalone --nproc_per_node=2 scripts/gpu/nccl_probe.py > "$OUT/nccl.log" 2>&1
grep -E "via|Channel 00|all-reduce|NCCL version" "$OUT/nccl.log" | sort -u | head -12
for batch in 2 4; do
  ARGS="--config trainer/configs/demo.toml --patch 128 --batch $batch --steps 40 --warmup 8 --modes reversible"
  for gpu in 0 1; do CUDA_VISIBLE_DEVICES=$gpu python3 -m trainer.throughput $ARGS 2>&1 | grep '^{' | sed "s/^{/{\"gpu\": \"$gpu\", /" | tee -a "$OUT/probe.jsonl"; done
  torchrun --standalone --nproc_per_node=2 -m trainer.throughput $ARGS --ddp ddp,bf16,independent 2>&1 | grep '^{' | sed 's/^{/{"gpu": "0,1", /' | tee -a "$OUT/probe.jsonl"
done
python3 - "$OUT/probe.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("| batch/GPU | ddp | 1 GPU (mean of GPU 0, 1) | 2 GPUs | scaling | ranks' s/step |")
print("|---|---|---|---|---|---|")
for r in rows:
    if r["processes"] == 2:
        one = [a["patches_per_s"] for a in rows if a["processes"] == 1 and a["batch_per_process"] == r["batch_per_process"]]
        base = sum(one) / len(one)
        print(f"| {r['batch_per_process']} | {r['ddp']} | {base:.1f} | {r['patches_per_s']:.1f} | {r['patches_per_s'] / base:.2f}x | "
              f"{r['fastest_rank_seconds_per_step']:.3f}-{r['slowest_rank_seconds_per_step']:.3f} |")
PY
