"""trainer.cli.main end to end on the CPU: one tiny epoch writes checkpoints the engine loads."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.checkpoint import load_model
from trainer.cli import main


def test_cli_trains_one_tiny_epoch(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main(["--data", str(tiny_phantom_dir), "--out", str(out), "--config", "tiny-cpu", "epochs=1",
                 "patches_per_epoch=4"])
    assert code == 0
    for which in ("best", "last"):
        model, loaded = load_model(out / f"checkpoint_{which}.safetensors")
        assert loaded.training["demo"] is True and loaded.metadata["extra"]["notice"] == "NOT FOR CLINICAL USE"
        assert loaded.training["steps"] == 2 and set(loaded.training["metrics"]) >= {"dice_WT", "hd95_ET"}
        assert loaded.normalization["channels"] == ["t1", "t1ce", "t2", "flair"]
        with torch.no_grad():
            assert model(torch.zeros(1, 4, 16, 16, 16)).shape == (1, 3, 16, 16, 16)
    split = json.loads((out / "split.json").read_text())
    assert len(split["train"]) == 1 and len(split["val"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["hardware"]["device"] == "cpu"


def test_cli_bad_input_exit_code(tmp_path: Path) -> None:
    assert main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "run"), "epochs=1"]) == 2
    assert main(["--data", str(tmp_path), "--out", str(tmp_path / "run"), "no_such_setting=3"]) == 2
    assert main(["--data", str(tmp_path), "--out", str(tmp_path / "run"), "--config", str(tmp_path / "x.toml")]) == 2
