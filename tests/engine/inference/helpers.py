"""Helpers for inference tests: a tiny random-init checkpoint and a small BraTS-format case."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.checkpoint import save_checkpoint
from engine.model import UNetConfig, build_network

TINY = UNetConfig(base_width=8, width_multipliers=(1, 2), encoder_blocks=(1, 1), decoder_blocks=(1,),
                  expansion=2, norm_groups=4, head_width=8)


def tiny_checkpoint(path: Path, *, demo: bool = False, config: UNetConfig = TINY, seed: int = 0) -> Path:
    """Write a random-init checkpoint of ``config`` (the tiny network by default) to ``path``."""
    torch.manual_seed(seed)
    network = build_network(config)
    save_checkpoint(path, network, config, training={"demo": demo, "note": "random init for tests"})
    return path


def small_case(folder: Path, case_id: str = "P7") -> Path:
    """A 40x44x36 BraTS-like NIfTI case (synthetic head with a tumour) in ``folder``."""
    # Imported here: the CUDA tests that use only TINY run where the export stack (highdicom) is absent.
    from tests.engine.synthetic_cases import write_nifti_case
    from tests.engine.test_prepare import BRATS_LIKE, ROLES

    return write_nifti_case(folder, {m: BRATS_LIKE for m in ROLES}, {m: f"{case_id}_{m}.nii.gz" for m in ROLES})
