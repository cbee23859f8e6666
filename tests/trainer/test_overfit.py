"""Acceptance: a tiny model overfits two tiny phantoms to Dice >= 0.9 per region on the CPU. The run's wall time
(bound: 2 minutes) is measured by scripts/measure_timings.py (docs/benchmarks.md), not asserted here."""

from __future__ import annotations

import logging
from pathlib import Path

from trainer.config import load_config
from trainer.loop import Trainer

TINY_CPU = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "tiny-cpu.toml"

log = logging.getLogger(__name__)

OVERFIT_OVERRIDES = [
    "patches_per_epoch=100", "epochs=4", "val_every=4", "val_fraction=0.0", "foreground_fraction=0.5",
    "lr=1e-2", "weight_decay=0.0", "warmup_steps=5", "val_tile=48",
]


def test_tiny_model_overfits_two_tiny_phantoms(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    config = load_config(TINY_CPU, OVERFIT_OVERRIDES)
    summary = Trainer(config, tiny_phantom_dir, tmp_path / "run").run()
    metrics = summary["metrics"]
    log.warning("overfit: %s", {k: round(v, 4) for k, v in metrics.items()})
    assert summary["data"]["validated_on_training_cases"] and len(summary["data"]["val_cases"]) == 2
    for region in ("ET", "TC", "WT"):
        assert metrics[f"dice_{region}"] >= 0.9, metrics
