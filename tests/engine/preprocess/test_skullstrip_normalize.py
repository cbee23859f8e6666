"""Skull-strip detection, the template brain mask, and z-score normalisation inside the brain."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import CaseError
from engine.geometry import Grid
from engine.preprocess.normalize import zscore_in_mask
from engine.preprocess.skullstrip import detect_skull_stripped, nonzero_brain_mask, template_brain_mask
from tests.engine.synthetic_cases import LPS_AXES, grid_from, head

GRID = grid_from((40, 48, 36), (1, 1, 1), LPS_AXES)


def test_stripped_brain_is_detected() -> None:
    check = detect_skull_stripped(head(GRID), GRID)
    assert check.stripped and check.edge_nonzero_fraction == 0
    assert "already stripped" in check.reason


def test_stripped_brain_cut_by_a_small_field_of_view_is_still_stripped() -> None:
    """A slab that cuts through the brain has brain on its faces, but air along its edges."""
    slab = grid_from((40, 48, 10), (1, 1, 1), LPS_AXES)
    data = head(slab)
    faces = np.concatenate([data[:, :, 0].ravel(), data[:, :, -1].ravel()])
    assert np.count_nonzero(faces) > 0.3 * faces.size
    assert detect_skull_stripped(data, slab).stripped


def test_noisy_background_means_not_stripped() -> None:
    data = head(GRID) + np.random.default_rng(0).rayleigh(3.0, GRID.shape).astype(np.float32)
    check = detect_skull_stripped(data, GRID)
    assert not check.stripped and "background noise" in check.reason


def test_zero_filled_whole_head_means_not_stripped() -> None:
    big = Grid((100, 120, 100), np.diag([2.0, 2.0, 2.0, 1.0]))
    ijk = np.indices(big.shape).transpose(1, 2, 3, 0) - np.array(big.shape) / 2
    whole_head = ((ijk / [38, 46, 42]) ** 2).sum(-1) <= 1  # ~ 4.9 L including scalp and skull
    check = detect_skull_stripped(whole_head.astype(np.float32), big)
    assert not check.stripped and "whole head" in check.reason


def test_nonzero_brain_mask_fills_holes() -> None:
    data = head(GRID)
    data[20, 24, 18] = 0  # a dark voxel inside the brain is still brain
    mask = nonzero_brain_mask([data])
    assert mask[20, 24, 18] and not mask[0, 0, 0]


def test_zscore_inside_the_mask() -> None:
    data = head(GRID, "flair") * 3 + 50
    mask = data > 50
    out, mean, std = zscore_in_mask(data, mask, "flair")
    assert out[mask].mean() == pytest.approx(0, abs=1e-5) and out[mask].std() == pytest.approx(1, abs=1e-4)
    assert not out[~mask].any()
    assert mean == pytest.approx(float(data[mask].mean()), rel=1e-6)
    with pytest.raises(CaseError, match="flair is constant inside the brain"):
        zscore_in_mask(np.ones(GRID.shape, np.float32), mask, "flair")
    with pytest.raises(CaseError, match="brain mask is empty"):
        zscore_in_mask(data, np.zeros(GRID.shape, bool), "t1")


def test_template_mask_on_the_mni_template_itself() -> None:
    """The template's own T1, moved 5 mm, gets back its brain (needs nilearn's bundled template)."""
    pytest.importorskip("nilearn")
    import nibabel as nib

    from engine.preprocess.skullstrip import template_path

    image = nib.load(str(template_path()))
    data = np.asarray(image.get_fdata(dtype=np.float32))[::3, ::3, ::3]
    affine = image.affine.copy()
    affine[:3, :3] *= 3
    affine[:3, 3] += 5.0
    grid = Grid(data.shape, affine)
    mask = template_brain_mask(data, grid)
    truth = data > 0
    assert 2 * (mask & truth).sum() / (mask.sum() + truth.sum()) > 0.95


def test_unstripped_input_takes_the_template_path_and_records_it(tmp_path) -> None:
    """A head with noisy background goes through skull stripping; the method is recorded in the provenance."""
    pytest.importorskip("nilearn")
    from engine.prepare import prepare_case
    from engine.preprocess.skullstrip import deepbet_available
    from tests.engine.synthetic_cases import write_nifti

    rng = np.random.default_rng(3)
    grid = grid_from((60, 72, 56), (2, 2, 2), LPS_AXES)
    for role in ("t1", "t1ce", "t2", "flair"):
        noisy = head(grid, role, scale=2.5) + rng.rayleigh(4.0, grid.shape).astype(np.float32)
        write_nifti(tmp_path / "in" / f"H_{role}.nii.gz", noisy, grid)
    stages: list[str] = []
    prepared = prepare_case(tmp_path / "in", tmp_path / "out", progress=lambda s, d, t: stages.append(s))
    skull = prepared.manifest["skull_strip"]
    assert not skull["checks"]["t1"]["stripped"]
    assert ("deepbet" if deepbet_available() else "MNI152") in skull["method"]
    assert "skull strip" in stages
    if deepbet_available():
        assert skull["device"] == "cpu"  # PrepareConfig's default; segment passes the network's device
    assert list(prepared.manifest["timings_s"]) == ["load", "register", "resample", "skull strip", "normalise"]
    truth = head(prepared.space.grid, "t1", scale=2.5) > 0
    overlap = 2 * (prepared.brain_mask & truth).sum() / (prepared.brain_mask.sum() + truth.sum())
    assert overlap > 0.8, overlap  # an ellipsoid is not the MNI brain, but it must land on it


class _OutOfMemoryExtractor:
    """Stands in for deepbet on a GPU that has no memory left (a real out-of-memory cannot be forced here)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def run(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError(self.message)


def test_deepbet_out_of_memory_on_a_gpu_falls_back_to_the_cpu(monkeypatch, caplog) -> None:
    pytest.importorskip("deepbet")
    from engine.preprocess import skullstrip

    real = skullstrip._deepbet_extractor
    messages = {"cuda": "CUDA out of memory. Tried to allocate 2.00 GiB", "cuda:1": "CUDA error: an illegal memory access"}
    monkeypatch.setattr(skullstrip, "_deepbet_extractor",
                        lambda device="cpu": real(device) if device == "cpu" else _OutOfMemoryExtractor(messages[device]))
    grid = grid_from((60, 72, 56), (2, 2, 2), LPS_AXES)
    image = head(grid, "t1", scale=2.5) + np.random.default_rng(3).rayleigh(4.0, grid.shape).astype(np.float32)
    on_cpu = skullstrip.deepbet_brain_mask(image, grid, device="cpu")
    with caplog.at_level("WARNING", logger="engine.preprocess.skullstrip"):
        fallen_back = skullstrip.deepbet_brain_mask(image, grid, device="cuda")
    assert np.array_equal(fallen_back, on_cpu)
    assert "deepbet ran out of memory on cuda; skull stripping on the CPU instead" in caplog.text
    with pytest.raises(RuntimeError, match="illegal memory access"):  # other GPU errors are not hidden
        skullstrip.deepbet_brain_mask(image, grid, device="cuda:1")


def test_fill_holes_gives_scipys_result() -> None:
    from scipy import ndimage

    from engine.preprocess.skullstrip import fill_holes

    rng = np.random.default_rng(7)
    for density in (0.3, 0.55, 0.7):  # many small cavities, some open to the box's faces, some diagonal-only
        mask = ndimage.binary_opening(rng.random((40, 44, 36)) < density)
        assert np.array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
        assert fill_holes(mask).flags["C_CONTIGUOUS"]  # as scipy's: the volumes it indexes are C-ordered
    shell = np.zeros((20, 20, 20), bool)
    shell[3:17, 3:17, 3:17] = True
    shell[6:14, 6:14, 6:14] = False  # a closed cavity: filled
    shell[10, 10, 3:6] = False  # a tunnel from the cavity to outside the shell: not a hole any more
    assert np.array_equal(fill_holes(shell), ndimage.binary_fill_holes(shell))
    assert not fill_holes(shell)[10, 10, 10]
