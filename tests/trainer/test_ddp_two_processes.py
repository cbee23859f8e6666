"""Two CPU processes under torchrun (gloo) against one process with the doubled batch: same patches, same losses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer.config import load_config
from trainer.loop import Trainer
from trainer.state import STATE_NAME

TINY_CPU = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "tiny-cpu.toml"
REPO = Path(__file__).resolve().parents[2]
COMMON = ["epochs=1", "patches_per_epoch=8", "lr=1e-3", "warmup_steps=0", "schedule=constant"]


@pytest.mark.slow
def test_two_ranks_follow_the_one_process_doubled_batch(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
               "trainer.cli", "--data", str(tiny_phantom_dir), "--out", str(tmp_path / "ddp"), "--config",
               str(TINY_CPU), "--cache", str(tmp_path / "cache"), "batch_size=1", *COMMON]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    # the ranks leave with os._exit after the teardown (trainer.distributed.leave_process): the report comes out
    assert "trained 4 steps" in result.stdout and "checkpoint_last.safetensors" in result.stdout, result.stdout
    ddp_history = torch.load(tmp_path / "ddp" / STATE_NAME, weights_only=True)["history"]["step_loss"]

    single = Trainer(load_config(TINY_CPU, ["batch_size=2", *COMMON]), tiny_phantom_dir, tmp_path / "one",
                     cache_dir=tmp_path / "cache")
    single.run()
    one_history = single.history["step_loss"]
    assert sorted(ddp_history) == sorted(one_history) and len(one_history) == 4
    # Same patches and weights at step 0, and the Dice is that of the global batch (its sums are all-reduced),
    # so the two runs differ only by floating-point summation order.
    for step, loss in one_history.items():
        assert ddp_history[step] == pytest.approx(loss, abs=1e-6), (step, ddp_history, one_history)
