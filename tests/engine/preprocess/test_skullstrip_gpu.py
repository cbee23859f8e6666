"""The CNN skull strip on CUDA (skipped without a GPU or without deepbet): the same mask as on the CPU, and
``segment`` runs it where the tumour network runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.metrics import dice
from engine.preprocess.skullstrip import _deepbet_extractor, deepbet_brain_mask
from tests.engine.synthetic_cases import LPS_AXES, grid_from, head

pytestmark = pytest.mark.gpu
pytest.importorskip("deepbet")

GRID = grid_from((96, 112, 88), (1.5, 1.5, 1.5), LPS_AXES)


def noisy_head(role: str = "t1", seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return head(GRID, role, scale=3.0) + rng.rayleigh(4.0, GRID.shape).astype(np.float32)


def test_deepbet_on_cuda_gives_the_cpu_mask() -> None:
    image = noisy_head()
    on_cpu = deepbet_brain_mask(image, GRID, device="cpu")
    on_cuda = deepbet_brain_mask(image, GRID, device="cuda")
    assert next(_deepbet_extractor("cuda").model.parameters()).device.type == "cuda"
    assert on_cpu.sum() > 0.5 * (head(GRID, "t1", scale=3.0) > 0).sum()
    assert dice(on_cuda, on_cpu) >= 0.99


def test_segment_on_cuda_strips_the_skull_on_cuda(tmp_path: Path) -> None:
    from engine.segment import segment_case
    from tests.engine.synthetic_cases import write_nifti

    for index, role in enumerate(("t1", "t1ce", "t2", "flair")):
        write_nifti(tmp_path / "in" / f"H_{role}.nii.gz", noisy_head(role, seed=index), GRID)
    result = segment_case(tmp_path / "in", None, tmp_path / "out" / "seg.nii.gz", device="cuda")
    skull = json.loads((tmp_path / "out" / "seg.json").read_text(encoding="utf-8"))["preprocessing"]["skull_strip"]
    assert result.device.startswith("cuda")
    assert "deepbet" in skull["method"] and skull["device"] == "cuda"
    assert set(result.prepare_stages_s) == {"load", "register", "resample", "skull strip", "normalise"}
