"""The faster CPU path (issue 19): contrasts on the T1ce's grid skip registration with the same result, and
torch is given every core unless the user pinned it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.geometry import SAME_GRID_TOLERANCE_MM, Grid
from engine.inference.predictor import Predictor, PredictorConfig, use_all_cores
from engine.metrics import dice
from engine.model import build_network
from engine.segment import nib_label, segment_case
from tests.engine.inference.helpers import TINY, tiny_checkpoint
from tests.engine.synthetic_cases import write_nifti_case
from tests.engine.test_prepare import BRATS_LIKE, ROLES


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def _shifted(grid: Grid, mm: float) -> Grid:
    affine = grid.affine.copy()
    affine[:3, 3] += mm
    return Grid(grid.shape, affine)


def test_same_grid_skips_registration_with_the_label_map_of_a_registered_run(tmp_path: Path, weights: Path) -> None:
    """All contrasts on one grid: registration is skipped and said so. The same anatomy with T1, T2 and FLAIR
    on a grid 20x the tolerance off (so they are registered) gives the same label map: the random-init
    test network's labels flip only at a few boundary voxels (measured: WT Dice 0.9997; the 428-voxel label 1,
    Dice 0.967, differs most)."""
    same = write_nifti_case(tmp_path / "same", {m: BRATS_LIKE for m in ROLES}, {m: f"S_{m}.nii.gz" for m in ROLES})
    off = _shifted(BRATS_LIKE, 20 * SAME_GRID_TOLERANCE_MM)
    grids = {m: BRATS_LIKE if m == "t1ce" else off for m in ROLES}
    registered = write_nifti_case(tmp_path / "registered", grids, {m: f"R_{m}.nii.gz" for m in ROLES})
    stages: list[str] = []
    skipped = segment_case(same, None, tmp_path / "a" / "seg.nii.gz", weights=weights, device="cpu",
                           progress=lambda s, d, t: stages.append(s))
    aligned = segment_case(registered, None, tmp_path / "b" / "seg.nii.gz", weights=weights, device="cpu")
    assert skipped.registration_skipped == ("t1", "t2", "flair") and aligned.registration_skipped == ()
    assert "registration skipped for t1, t2, flair" in skipped.summary()
    assert "registration skipped" not in aligned.summary()
    assert any("same grid as t1ce, skipped" in stage for stage in stages)
    first, second = nib_label(skipped.files["nifti"]), nib_label(aligned.files["nifti"])
    assert first.any()
    assert dice(first > 0, second > 0) >= 0.99
    assert np.mean(first == second) >= 0.999


def test_use_all_cores_unless_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert use_all_cores() == 1  # the user's pin wins
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
        assert use_all_cores() == (os.cpu_count() or 1)
    finally:
        torch.set_num_threads(previous)


def test_cpu_channels_last_gives_the_logits_of_the_default_layout() -> None:
    torch.manual_seed(0)
    network = build_network(TINY)
    volume = np.random.default_rng(1).normal(size=(4, 40, 36, 32)).astype(np.float32)
    config = PredictorConfig(device="cpu", tile=32, overlap=0.5)
    fast = Predictor(network, config).predict(volume)
    plain = Predictor(network, PredictorConfig(device="cpu", tile=32, overlap=0.5, cpu_channels_last=False))
    assert torch.allclose(fast, plain.predict(volume), atol=1e-4)
    assert next(p for p in network.parameters() if p.dim() == 5).is_contiguous()  # the plain run restored it
    Predictor(network, config).predict(volume)
    conv = next(p for p in network.parameters() if p.dim() == 5)
    assert conv.is_contiguous(memory_format=torch.channels_last_3d)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_is_refused_with_a_clear_error_where_torch_has_no_mps() -> None:
    with pytest.raises(ValueError, match="MPS is not available; use --device cpu or auto"):
        Predictor(build_network(TINY), PredictorConfig(device="mps"))
