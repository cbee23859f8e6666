"""engine.metrics: Dice / HD95 per region, BraTS empty-mask conventions, and agreement with brats-evaluation."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from engine.metrics import HD95_EMPTY_PENALTY_MM, dice, hd95, region_scores


def _label_pair(spacing_shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A reference and a shifted / resized prediction in the BraTS 2023 convention (ET = 3)."""
    rng = np.random.default_rng(7)
    reference = np.zeros((44, 40, 32), np.uint8)
    reference[10:30, 8:28, 6:24] = 2
    reference[14:24, 12:22, 9:19] = 1
    reference[16:21, 14:20, 11:16] = 3
    prediction = np.zeros_like(reference)
    prediction[11:31, 7:26, 6:25] = 2
    prediction[14:25, 13:22, 10:19] = 1
    prediction[17:21, 14:19, 12:16] = 3
    flips = rng.random(prediction.shape) < 0.01  # scattered errors make the distance distribution non-trivial
    prediction[flips & (prediction == 0)] = 2
    return prediction, reference


def test_dice_and_hd95_of_simple_shapes() -> None:
    a = np.zeros((20, 20, 20), bool)
    a[5:10, 5:10, 5:10] = True
    b = np.zeros_like(a)
    b[5:10, 5:10, 7:12] = True
    assert dice(a, b) == pytest.approx(2 * 75 / 250)
    assert hd95(a, a) == 0.0
    # A shift of 2 voxels along the last axis with 3 mm spacing there: largest distances are 6 mm.
    assert hd95(a, b, spacing=(1.0, 1.0, 3.0)) == pytest.approx(6.0)


def test_empty_mask_conventions() -> None:
    empty = np.zeros((8, 8, 8), bool)
    full = empty.copy()
    full[2:4, 2:4, 2:4] = True
    assert dice(empty, empty) == 1.0 and hd95(empty, empty) == 0.0
    assert dice(full, empty) == 0.0 and hd95(full, empty) == HD95_EMPTY_PENALTY_MM
    assert hd95(empty, full) == HD95_EMPTY_PENALTY_MM


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        dice(np.zeros((3, 3, 3)), np.zeros((3, 3, 4)))
    with pytest.raises(ValueError, match="spacing"):
        hd95(np.ones((3, 3, 3)), np.ones((3, 3, 3)), spacing=(1.0, 0.0, 1.0))


def _official_scores(pred_path: Path, ref_path: Path, spacing: tuple[float, ...] | None) -> dict:
    brats_evaluation = pytest.importorskip("brats_evaluation")
    panoptica = pytest.importorskip("panoptica")
    evaluator = panoptica.Panoptica_Evaluator.load_from_config(str(brats_evaluation.config_path("gli")))
    if spacing is None:  # the official entry point: file paths, as `brats-evaluate` runs it
        official = brats_evaluation.evaluate_single_exam(str(pred_path), str(ref_path), "case", evaluator)
        assert "error" not in official, official
        return official
    # evaluate_single_exam ignores the files' voxel size (BraTS data is 1 mm isotropic; panoptica 2.1.7's global
    # metrics also stayed in voxel units when given voxelspacing), so anisotropic grids are compared with the
    # metric functions the evaluator calls, given the spacing explicitly.
    from panoptica.metrics.dice import _compute_dice_coefficient
    from panoptica.metrics.hausdorff_distance import _compute_hausdorff_distance95

    prediction = np.asarray(nib.load(pred_path).dataobj)
    reference = np.asarray(nib.load(ref_path).dataobj)
    scores = {}
    for name, labels in {"et": (3,), "tc": (1, 3), "wt": (1, 2, 3)}.items():
        pred_mask, ref_mask = np.isin(prediction, labels), np.isin(reference, labels)
        scores[name] = {"global_bin_dsc": _compute_dice_coefficient(ref_mask, pred_mask),
                        "global_bin_hd95": _compute_hausdorff_distance95(ref_mask, pred_mask, voxelspacing=spacing)}
    return scores


@pytest.mark.parametrize("spacing", [None, (0.9, 1.2, 2.5)])
def test_metrics_equal_brats_evaluation(tmp_path: Path, spacing: tuple[float, float, float] | None) -> None:
    """Our Dice / HD95 equal the official BraTS 2023 glioma evaluation (brats_evaluation + panoptica)."""
    prediction, reference = _label_pair()
    affine = np.diag([*(spacing or (1.0, 1.0, 1.0)), 1.0])
    pred_path, ref_path = tmp_path / "pred.nii.gz", tmp_path / "ref.nii.gz"
    nib.save(nib.Nifti1Image(prediction, affine), pred_path)
    nib.save(nib.Nifti1Image(reference, affine), ref_path)
    official = _official_scores(pred_path, ref_path, spacing)

    loaded_pred = np.asarray(nib.load(pred_path).dataobj)
    loaded_ref = np.asarray(nib.load(ref_path).dataobj)
    ours = region_scores(loaded_pred, loaded_ref, spacing=spacing)
    for region in ("ET", "TC", "WT"):
        theirs = official[region.lower()]
        assert ours[region].dice == pytest.approx(float(theirs["global_bin_dsc"]), abs=1e-9)
        assert ours[region].hd95 == pytest.approx(float(theirs["global_bin_hd95"]), abs=1e-6)
    assert 0.5 < ours["WT"].dice < 1.0 and ours["WT"].hd95 > 0  # the pair is a real, imperfect comparison
