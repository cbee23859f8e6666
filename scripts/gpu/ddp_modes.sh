#!/usr/bin/env bash
# Reversible training under DDP: which way of reducing the gradients scales best (issue 6's 2-GPU bound).
# Usage (repo root, GPU machine with 2+ GPUs): bash scripts/gpu/ddp_modes.sh
source scripts/gpu/common.sh
CFG=trainer/configs/demo.toml
NGPU=$(python3 -c "import torch; print(max(1, torch.cuda.device_count()))")
CUDA_VISIBLE_DEVICES=0 python3 -m trainer.throughput --config $CFG --patch 128 --batch 2 --steps 20 --modes reversible,plain 2>&1 | grep '^{' | tee "$OUT/one_gpu.jsonl"
torchrun --standalone --nproc_per_node="$NGPU" -m trainer.throughput --config $CFG --patch 128 --batch 2 --steps 20 --modes reversible --ddp ddp,static,bigbucket,manual 2>&1 | grep '^{' | tee "$OUT/ddp_modes.jsonl"
torchrun --standalone --nproc_per_node="$NGPU" -m trainer.throughput --config $CFG --patch 128 --batch 2 --steps 20 --modes plain --ddp ddp,manual 2>&1 | grep '^{' | tee -a "$OUT/ddp_modes.jsonl"
