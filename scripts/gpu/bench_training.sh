#!/usr/bin/env bash
# Issue 6 figures: training throughput reversible vs plain (demo recipe's model, 128^3, batch 2 a GPU) on one and
# on all GPUs, the largest cubic patch each trains in 16 GiB, and the loss trajectory of N GPUs x batch b against
# one GPU x batch N*b on phantoms. Usage (repo root, GPU machine): bash scripts/gpu/bench_training.sh
source scripts/gpu/common.sh
CFG=trainer/configs/demo.toml
NGPU=$(python3 -c "import torch; print(max(1, torch.cuda.device_count()))")
CUDA_VISIBLE_DEVICES=0 python3 -m trainer.throughput --config $CFG --patch 128 --batch 2 --steps 15 2>&1 | grep '^{' | tee "$OUT/throughput_1gpu.jsonl"
torchrun --standalone --nproc_per_node="$NGPU" -m trainer.throughput --config $CFG --patch 128 --batch 2 --steps 15 2>&1 | grep '^{' | tee "$OUT/throughput_ngpu.jsonl"
CUDA_VISIBLE_DEVICES=0 timeout 200 python3 -m trainer.throughput --config $CFG --batch 2 --largest-in-gib 16 2>&1 | grep '^{' | tee "$OUT/largest_16gib.jsonl"
# Loss trajectory: same phantoms, seed, patches; NGPU ranks x batch 2 against one GPU x batch 2*NGPU.
python3 main.py phantoms --out /tmp/traj/data --n 8 --seed 5 --workers 8 > /dev/null
COMMON="epochs=1 patches_per_epoch=$(( 2 * NGPU * 12 )) val_fraction=0 val_every=100 warmup_steps=0 schedule=constant ema_decay=0 num_workers=6"
timeout 150 torchrun --standalone --nproc_per_node="$NGPU" -m trainer.cli --data /tmp/traj/data --out /tmp/traj/ddp --cache /tmp/traj/cache --config $CFG batch_size=2 $COMMON > "$OUT/traj_ddp.log" 2>&1
CUDA_VISIBLE_DEVICES=0 timeout 150 python3 -m trainer.cli --data /tmp/traj/data --out /tmp/traj/one --cache /tmp/traj/cache --config $CFG batch_size=$(( 2 * NGPU )) $COMMON > "$OUT/traj_one.log" 2>&1
python3 - "$OUT" <<'PY'
import json, sys, torch
from pathlib import Path
out = Path(sys.argv[1])
rows = {}
for name in ("ddp", "one"):
    try:
        rows[name] = torch.load(f"/tmp/traj/{name}/trainer_state.pt", weights_only=True)["history"]["step_loss"]
    except Exception as error:
        print("trajectory", name, "missing:", error)
if len(rows) == 2:
    steps = sorted(rows["one"], key=int)
    diffs = [abs(rows["ddp"][s] - rows["one"][s]) for s in steps]
    summary = {"steps": len(steps), "max_abs_diff": max(diffs), "ddp": [rows["ddp"][s] for s in steps],
               "one": [rows["one"][s] for s in steps]}
    (out / "trajectory.json").write_text(json.dumps(summary, indent=1))
    print("trajectory: steps", len(steps), "max |loss_ddp - loss_one|", round(max(diffs), 5),
          "first/last loss", round(summary["one"][0], 4), round(summary["one"][-1], 4))
PY
echo "== throughput =="; cat "$OUT/throughput_1gpu.jsonl" "$OUT/throughput_ngpu.jsonl"
echo "== largest patch in 16 GiB =="; cat "$OUT/largest_16gib.jsonl"
