"""The default patch: the largest cube within the GPU budget (CUDA); the CPU keeps the configured patch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from trainer.autopatch import AUTO_PATCH_FILE, choose_patch
from trainer.config import load_config
from trainer.data import build_cache
from trainer.distributed import DistributedContext
from trainer.loop import Trainer

TINY_CPU = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "tiny-cpu.toml"
CPU = DistributedContext(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))


def test_cpu_keeps_the_configured_patch_and_a_saved_choice_wins(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    config = load_config(TINY_CPU, ["auto_patch_gib=16"])
    cases = build_cache(tiny_phantom_dir, tmp_path / "cache")
    assert choose_patch(CPU, config.unet_config(), cases, 1, False, 16.0, (32, 32, 32), tmp_path) == (32, 32, 32)
    (tmp_path / AUTO_PATCH_FILE).write_text(json.dumps({"patch_size": [40, 40, 40]}))  # a resumed run's choice
    assert choose_patch(CPU, config.unet_config(), cases, 1, False, 16.0, (32, 32, 32), tmp_path) == (40, 40, 40)


def test_trainer_trains_with_the_chosen_patch(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    config = load_config(TINY_CPU, ["epochs=1", "patches_per_epoch=2"])
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / AUTO_PATCH_FILE).write_text(json.dumps({"patch_size": [24, 24, 24]}))
    trainer = Trainer(config, tiny_phantom_dir, tmp_path / "run", cache_dir=tmp_path / "cache")
    summary = trainer.run()
    assert summary["patch_size"] == [24, 24, 24] and trainer.dataset.patch_size == (24, 24, 24)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the device machine)")
def test_cuda_probe_picks_a_cube_within_the_budget(sphere_case_dir: Path, tmp_path: Path) -> None:
    config = load_config(TINY_CPU)
    cases = build_cache(sphere_case_dir, tmp_path / "cache")  # no MNI phantoms: the GPU image has no nilearn
    cuda = DistributedContext(rank=0, local_rank=0, world_size=1, device=torch.device("cuda", 0))
    patch = choose_patch(cuda, config.unet_config(), cases, 1, True, 2.0, (32, 32, 32), tmp_path)
    assert patch[0] == patch[1] == patch[2] and patch[0] % 32 == 0 and patch[0] >= 128
    assert json.loads((tmp_path / AUTO_PATCH_FILE).read_text())["patch_size"] == list(patch)
