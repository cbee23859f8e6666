"""trainer.demo: held-out evaluation of a checkpoint and the model card (the GPU training itself is not run)."""

from __future__ import annotations

import json
from pathlib import Path

from trainer.cli import main as train_main
from trainer.demo import TARGETS, ensure_phantoms, evaluate_checkpoint, model_card


def test_evaluate_checkpoint_and_model_card(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert train_main(["--data", str(tiny_phantom_dir), "--out", str(out), "--config", "tiny-cpu", "epochs=1",
                       "patches_per_epoch=2", "batch_size=1"]) == 0
    metrics = evaluate_checkpoint(out / "checkpoint_last.safetensors", tiny_phantom_dir, tmp_path / "cache",
                                  tile=32, device="cpu", amp=False)
    assert metrics["cases"] == 2
    assert all(0.0 <= metrics[key] <= 1.0 for key in TARGETS) and metrics["hd95_WT"] > 0
    summary = json.loads((out / "summary.json").read_text())
    card = model_card(summary, metrics, heldout_seed=9001)
    assert "NOT FOR CLINICAL USE" in card and f"{metrics['dice_WT']:.4f}" in card and "seed 9001" in card


def test_existing_phantoms_are_not_regenerated(tiny_phantom_dir: Path) -> None:
    before = sorted(p.name for p in tiny_phantom_dir.iterdir())
    assert ensure_phantoms(tiny_phantom_dir, 2, seed=0) == tiny_phantom_dir
    assert sorted(p.name for p in tiny_phantom_dir.iterdir()) == before
