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


def _brute_force_rano(label: np.ndarray, spacing) -> tuple[float, float, int]:
    """Largest product over axial slices and 8-connected ET regions, with every pair of points tried."""
    best = (0.0, 0.0, -1)
    for index in range(label.shape[2]):
        regions, count = ndimage.label(label[..., index] == 4, structure=np.ones((3, 3)))
        for number in range(1, count + 1):
            points = np.argwhere(regions == number) * np.asarray(spacing[:2])
            diff = points[:, None, :] - points[None, :, :]
            lengths = np.linalg.norm(diff, axis=-1)
            i, j = np.unravel_index(np.argmax(lengths), lengths.shape)
            longest = lengths[i, j]
            unit = diff[j, i] / longest if longest else np.array([1.0, 0.0])
            along = np.abs(diff @ unit)
            across = np.abs(diff @ np.array([-unit[1], unit[0]]))
            perpendicular = across[along <= min(spacing[:2]) / 2].max()  # pairs at right angles to it
            if longest * perpendicular > best[0] * best[1]:
                best = (float(longest), float(perpendicular), index)
    return best


def test_volumes_and_lesions_match_numpy():
    label = _label()
    result = measure(label, SPACING)
    voxel_ml = np.prod(SPACING) / 1000
    counts = {"NCR": (label == 1).sum(), "ED": (label == 2).sum(), "ET": (label == 4).sum()}
    counts |= {"TC": counts["NCR"] + counts["ET"], "WT": (label > 0).sum()}
    assert result.volumes_ml == {name: round(float(count * voxel_ml), 3) for name, count in counts.items()}
    assert result.lesions == ndimage.label(label > 0, structure=np.ones((3, 3, 3)))[1] == 2
    assert result.max_et_slice == int(np.argmax((label == 4).sum(axis=(0, 1))))
    assert voxel_volume_ml(SPACING) == pytest.approx(voxel_ml)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_rano_diameters_within_one_voxel_of_brute_force(seed):
    label = _label(seed)
    rano = bidimensional_product(label, SPACING)
    longest, perpendicular, index = _brute_force_rano(label, SPACING)
    assert rano is not None
    assert rano.longest_mm == pytest.approx(longest, abs=1e-9)  # the hull search is exact
    assert abs(rano.perpendicular_mm - perpendicular) <= max(SPACING[:2])
    assert abs(rano.product_mm2 - longest * perpendicular) <= max(SPACING[:2]) * longest
    ends = np.array(rano.longest_ends, dtype=float)[:, :2] * SPACING[:2]
    assert np.linalg.norm(ends[0] - ends[1]) == pytest.approx(rano.longest_mm)
    assert all(label[v] == 4 for v in (*rano.longest_ends, *rano.perpendicular_ends))
    assert rano.longest_ends[0][2] == rano.slice_index


def test_perpendicular_is_at_right_angles_on_a_rectangle():
    label = np.zeros((30, 30, 3), np.uint8)
    label[5:25, 10:16, 1] = 4  # 20 x 6 voxels of 1 mm: diagonal longest, its perpendicular across
    rano = bidimensional_product(label, (1.0, 1.0, 1.0))
    assert rano.longest_mm == pytest.approx(np.hypot(19, 5))
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
    assert rows["ED volume (mL)"] == "0.01" and rows["Lesions (26-connected)"] == "1"
    text = as_tsv(result)
    assert text.splitlines()[0] == "Measurement\tValue" and "WT volume (mL)\t0.01" in text
    with pytest.raises(ValueError, match="spacing"):
        measure(label, (1.0, 0.0, 1.0))
