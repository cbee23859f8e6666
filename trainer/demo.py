"""The demo-weights recipe as a script: phantoms -> training -> held-out evaluation -> model card.

    python -m trainer.demo --out runs/demo [--train-cases 200] [--heldout-cases 20] [key=value ...]
    torchrun --standalone --nproc_per_node=2 -m trainer.demo --out runs/demo

It trained the shipped weights (scripts/gpu/train_demo.sh, 2x H100, see resources/weights/MODEL_CARD.md). Training data are
phantoms of data-set seed ``--seed``; the held-out set uses ``--heldout-seed`` (unseen cases). The issue's
targets on the held-out phantoms are Dice WT >= 0.90, TC >= 0.85, ET >= 0.80; the card reports the measured
values and whether each target is met, plus the data, recipe, hardware and time. NOT FOR CLINICAL USE.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from engine.checkpoint import load_model
from trainer.config import load_config
from trainer.data import build_cache
from trainer.distributed import leave_process, shutdown
from trainer.loop import Trainer
from trainer.phantoms import generate_dataset
from trainer.state import means_from_sums, validate_cases

log = logging.getLogger(__name__)

DEMO_CONFIG = Path(__file__).resolve().parent / "configs" / "demo.toml"
TARGETS = {"dice_WT": 0.90, "dice_TC": 0.85, "dice_ET": 0.80}


def ensure_phantoms(folder: Path, n: int, seed: int) -> Path:
    """Generate ``n`` phantoms of data-set ``seed`` into ``folder`` unless it already holds them."""
    if folder.is_dir() and sum(1 for p in folder.iterdir() if p.is_dir()) >= n:
        return folder
    generate_dataset(folder, n, seed, overwrite=True, workers=os.cpu_count() or 1)
    return folder


def evaluate_checkpoint(checkpoint: Path, data_dir: Path, cache_dir: Path, *, tile: int = 128,
                        device: str = "cpu", amp: bool = True) -> dict[str, float]:
    """Mean Dice / HD95 per region of ``checkpoint`` on every case of ``data_dir`` (sliding window)."""
    model, _ = load_model(checkpoint, device)
    cases = build_cache(data_dir, cache_dir, workers=os.cpu_count() or 1)
    sums = validate_cases(model, cases, torch.device(device), tile=tile, overlap=0.5, amp=amp)
    return {**means_from_sums(sums), "cases": len(cases)}


def model_card(summary: dict[str, Any], heldout: dict[str, float], heldout_seed: int) -> str:
    """Markdown model card of the demo weights."""
    met = {k: heldout[k] >= v for k, v in TARGETS.items()}
    lines = [
        "# RevSeg demo weights", "", "**NOT FOR CLINICAL USE.** Trained on synthetic phantoms only.", "",
        f"* Training data: {len(summary['data']['train_cases'])} phantoms ({', '.join(summary['data']['folders'])}), "
        f"validation: {len(summary['data']['val_cases'])}",
        f"* Held-out evaluation: {int(heldout['cases'])} phantoms of data-set seed {heldout_seed} (unseen)",
        f"* Recipe: trainer/configs/demo.toml with overrides; steps {summary['steps']}, epochs {summary['epochs']}",
        f"* Hardware: {json.dumps(summary['hardware'])}; training time {summary['time_s']:.0f} s", "",
        "| region | Dice | HD95 (mm) | target Dice | met |", "|---|---|---|---|---|",
    ]
    for region in ("WT", "TC", "ET"):
        key = f"dice_{region}"
        lines.append(f"| {region} | {heldout[key]:.4f} | {heldout[f'hd95_{region}']:.2f} | {TARGETS[key]:.2f} | "
                     f"{'yes' if met[key] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--train-cases", type=int, default=200)
    parser.add_argument("--heldout-cases", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heldout-seed", type=int, default=9001)
    parser.add_argument("--config", type=Path, default=DEMO_CONFIG)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(args.config, args.overrides)
    trainer = Trainer(config, args.out / "phantoms-train", args.out / "run", resume=args.resume)
    if trainer.context.is_main:
        ensure_phantoms(args.out / "phantoms-train", args.train_cases, args.seed)
    try:
        summary = trainer.run()
    finally:
        shutdown(trainer.context)
    if not trainer.context.is_main:
        return leave_process(0, trainer.context)
    heldout_dir = ensure_phantoms(args.out / "phantoms-heldout", args.heldout_cases, args.heldout_seed)
    heldout = evaluate_checkpoint(args.out / "run" / "checkpoint_best.safetensors", heldout_dir,
                                  args.out / "cache-heldout", tile=config.val_tile,
                                  device=str(trainer.context.device), amp=config.amp)
    (args.out / "heldout_metrics.json").write_text(json.dumps(heldout, indent=1))
    (args.out / "MODEL_CARD.md").write_text(model_card(summary, heldout, args.heldout_seed))
    log.info("held-out phantoms: %s", {k: round(v, 4) for k, v in heldout.items()})
    return leave_process(0, trainer.context)


if __name__ == "__main__":
    raise SystemExit(main())
