"""Measurements against numpy and a brute-force RANO reference on the same label maps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.measure import as_tsv, bidimensional_product, measure, measurement_rows, voxel_volume_ml

SPACING = (0.9, 1.1, 2.0)


def _label(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (40, 36, 14)
    i, j, k = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    label = np.zeros(shape, np.uint8)
    centre = rng.uniform([14, 12, 5], [24, 22, 8])
    radii = rng.uniform([5, 4, 2], [10, 8, 4])
    distance = (((np.stack([i, j, k], -1) - centre) / radii) ** 2).sum(-1)
    label[distance < 1.6] = 2
    label[distance < 1.0] = 4
    label[distance < 0.3] = 1
    label[2:5, 30:33, 10:12] = 2  # a second lesion
    return label


def _segment_inside(region: np.ndarray, a, b) -> bool:
    """Densely sampled (every 0.1 voxel): does the segment between two voxel centres stay in ``region``?"""
    t = np.linspace(0, 1, int(10 * max(abs(b[0] - a[0]), abs(b[1] - a[1]))) + 2)
    points = np.rint(np.asarray(a, float)[None, :2] + t[:, None] * (np.subtract(b[:2], a[:2]))).astype(int)
    return bool(region[points[:, 0], points[:, 1]].all())


def _brute_force_rano(label: np.ndarray, spacing) -> tuple[float, int]:
    """RANO 2.0 reference: the slice of the largest ET cross-section (rim + enclosed cavity) and, on it, the
    longest segment between ANY two region voxels that stays inside the region."""
    areas = [ndimage.binary_fill_holes(label[..., z] == 4).sum() for z in range(label.shape[2])]
    index = int(np.argmax(areas))
    region = ndimage.binary_fill_holes(label[..., index] == 4)
    pixels = np.argwhere(region)
    lengths = np.linalg.norm((pixels[:, None, :] - pixels[None, :, :]) * np.asarray(spacing[:2]), axis=-1)
    for flat in np.argsort(-lengths, axis=None):
        i, j = np.unravel_index(flat, lengths.shape)
        if _segment_inside(region, pixels[i], pixels[j]):
            return float(lengths[i, j]), index
    return 0.0, index


def test_volumes_and_lesions_match_numpy():
    label = _label()
    result = measure(label, SPACING)
    voxel_ml = np.prod(SPACING) / 1000
    counts = {"NCR": (label == 1).sum(), "ED": (label == 2).sum(), "ET": (label == 4).sum()}
    counts |= {"TC": counts["NCR"] + counts["ET"], "WT": (label > 0).sum()}
    assert result.volumes_ml == {name: round(float(count * voxel_ml), 3) for name, count in counts.items()}
    components, count = ndimage.label(label > 0, structure=np.ones((3, 3, 3)))
    sizes_ml = np.bincount(components.ravel())[1:] * voxel_ml
    assert count == 2 and result.lesions == int((sizes_ml >= 0.1).sum()) == 1  # the 3x3x2 speck is a small focus
    assert result.table.small_foci == 1 and result.table.small_foci_ml == pytest.approx(sizes_ml.min(), abs=1e-3)
    assert result.max_et_slice == int(np.argmax((label == 4).sum(axis=(0, 1))))
    assert voxel_volume_ml(SPACING) == pytest.approx(voxel_ml)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_rano_diameters_within_one_voxel_of_brute_force(seed):
    label = _label(seed)
    rano = bidimensional_product(label, SPACING)
    longest, index = _brute_force_rano(label, SPACING)
    assert rano is not None and rano.slice_index == index  # the slice of the largest enhancing cross-section
    ends = np.array(rano.longest_ends, dtype=float)[:, :2] * SPACING[:2]
    centre_distance = np.linalg.norm(ends[0] - ends[1])
    assert longest - max(SPACING[:2]) <= centre_distance <= longest + 1e-9  # brute force: between centres
    unit = (ends[1] - ends[0]) / centre_distance  # reported edge to edge: plus one voxel along the line
    assert rano.longest_mm == pytest.approx(centre_distance + 1 / np.hypot(unit[0] / SPACING[0], unit[1] / SPACING[1]))
    region = ndimage.binary_fill_holes(label[..., index] == 4)
    assert all(_segment_inside(region, *ends) for ends in (rano.longest_ends, rano.perpendicular_ends))
    assert rano.longest_ends[0][2] == rano.slice_index and rano.slice_number == index + 1


def test_perpendicular_is_at_right_angles_on_a_rectangle():
    label = np.zeros((30, 30, 3), np.uint8)
    label[5:25, 10:16, 1] = 4  # 20 x 6 voxels of 1 mm: diagonal longest, its perpendicular across
    rano = bidimensional_product(label, (1.0, 1.0, 1.0))
    assert rano.longest_mm == pytest.approx(np.hypot(19, 5) + 1)  # between the outer edges of the end voxels
    ends = np.array(rano.perpendicular_ends, float)[:, :2]
    longest = np.subtract(*np.array(rano.longest_ends, float)[:, :2])
    cosine = abs(np.dot(ends[1] - ends[0], longest)) / (np.linalg.norm(ends[1] - ends[0]) * np.linalg.norm(longest))
    assert cosine < 0.2


def test_no_et_and_the_table():
    label = np.zeros((8, 8, 4), np.uint8)
    label[2:4, 2:4, 1:3] = 2
    result = measure(label, (1.0, 1.0, 1.0))
    assert result.bidimensional is None and result.max_et_slice is None and result.max_tumour_slice in (1, 2)
    rows = dict(measurement_rows(result))
    # 8 voxels of 1 mm³ (0.008 mL): below the 0.1 mL minimum, a small focus and no lesion
    assert rows["ED volume (mL)"] == "0.01" and rows["Lesions (>= 0.1 mL)"] == "0"
    assert rows["Small foci (< 0.1 mL)"] == "1 (0.01 mL)"
    assert dict(measurement_rows(measure(label, (1.0, 1.0, 1.0), min_volume_ml=0.001)))[
        "Lesions (>= 0.001 mL)"] == "1"
    text = as_tsv(result)
    assert text.splitlines()[0] == "Measurement\tValue" and "WT volume (mL)\t0.01" in text
    with pytest.raises(ValueError, match="spacing"):
        measure(label, (1.0, 0.0, 1.0))
