"""Measurements of a label map: volumes per label and region, lesion count, and the RANO bidimensional product.

Volumes (mL) and the lesion count reuse the post-processing functions (one implementation each): lesions are
the 26-connected components of the whole tumour (any label > 0). The bidimensional product follows RANO on
axial slices (voxel axis 2): within each 8-connected enhancing-tumour (ET) region of each slice, the longest
diameter is the largest distance between two ET voxel centres (mm), and the perpendicular diameter is the
largest extent across that direction measured between voxel centres whose positions along it differ by less
than one in-plane voxel. The slice and region with the largest product is reported, with both end points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from engine.inference.postprocess import count_lesions, label_volumes_ml
from engine.labels import ENHANCING

LESION_CONNECTIVITY = 26
AXIAL_AXIS = 2
_IN_PLANE = ndimage.generate_binary_structure(2, 2)  # 8-connectivity within a slice
Voxel = tuple[int, int, int]


@dataclass(frozen=True)
class Bidimensional:
    """RANO bidimensional measurement of the enhancing tumour on one axial slice.

    Attributes:
        slice_index: axial slice (index along voxel axis 2).
        longest_mm: longest in-plane diameter between ET voxel centres.
        perpendicular_mm: longest diameter perpendicular to it.
        longest_ends: the two voxels of the longest diameter.
        perpendicular_ends: the two voxels of the perpendicular diameter.
    """

    slice_index: int
    longest_mm: float
    perpendicular_mm: float
    longest_ends: tuple[Voxel, Voxel]
    perpendicular_ends: tuple[Voxel, Voxel]

    @property
    def product_mm2(self) -> float:
        return self.longest_mm * self.perpendicular_mm


@dataclass(frozen=True)
class Measurements:
    """What the measurement panel and the report show.

    Attributes:
        volumes_ml: NCR, ED, ET (labels) and TC, WT (regions) in mL.
        lesions: connected components of the whole tumour (``LESION_CONNECTIVITY``-connected).
        bidimensional: RANO measurement of the ET (None without ET).
        max_et_slice: axial slice with the largest ET area (None without ET).
        max_tumour_slice: axial slice with the largest whole-tumour area (None without tumour).
    """

    volumes_ml: dict[str, float]
    lesions: int
    bidimensional: Bidimensional | None
    max_et_slice: int | None
    max_tumour_slice: int | None


def voxel_volume_ml(spacing: tuple[float, float, float]) -> float:
    """Volume of one voxel in mL (spacing in mm)."""
    if len(spacing) != 3 or any(not np.isfinite(s) or s <= 0 for s in spacing):
        raise ValueError(f"spacing must be three positive voxel sizes in mm, got {spacing}")
    return float(np.prod(spacing)) / 1000.0


def measure(label: np.ndarray, spacing: tuple[float, float, float]) -> Measurements:
    """All measurements of a BraTS 2020 label map (0/1/2/4).

    Args:
        label: label map, axis 2 running inferior to superior (axial slices).
        spacing: voxel size in mm per axis.
    """
    if label.ndim != 3:
        raise ValueError(f"expected a 3D label map, got shape {label.shape}")
    volumes = label_volumes_ml(label, voxel_volume_ml(spacing))
    return Measurements(volumes, count_lesions(label), bidimensional_product(label, spacing),
                        _max_area_slice(label == ENHANCING), _max_area_slice(label > 0))


def _max_area_slice(mask: np.ndarray) -> int | None:
    areas = np.count_nonzero(mask, axis=(0, 1))
    return int(np.argmax(areas)) if areas.any() else None


def bidimensional_product(label: np.ndarray, spacing: tuple[float, float, float],
                          value: int = ENHANCING) -> Bidimensional | None:
    """The axial-slice region of label ``value`` with the largest RANO product (None when there is none).

    Args:
        label: label map.
        spacing: voxel size in mm per axis.
        value: the label measured (ET by default).
    """
    best: Bidimensional | None = None
    mask = label == value
    for index in np.flatnonzero(mask.any(axis=(0, 1))):
        regions, count = ndimage.label(mask[..., index], structure=_IN_PLANE)
        for number in range(1, count + 1):
            candidate = _measure_region(np.argwhere(regions == number), spacing, int(index))
            if best is None or candidate.product_mm2 > best.product_mm2:
                best = candidate
    return best


def _measure_region(pixels: np.ndarray, spacing: tuple[float, float, float], index: int) -> Bidimensional:
    points = pixels * np.asarray(spacing[:2], dtype=float)
    a, b, longest = longest_diameter(points)
    c, d, perpendicular = perpendicular_diameter(points, points[b] - points[a], min(spacing[:2]))

    def voxel(row: int) -> Voxel:
        return int(pixels[row, 0]), int(pixels[row, 1]), index

    return Bidimensional(index, longest, perpendicular, (voxel(a), voxel(b)), (voxel(c), voxel(d)))


def longest_diameter(points: np.ndarray) -> tuple[int, int, float]:
    """Rows of the two points farthest apart and their distance; the search runs over the convex hull."""
    candidates = np.arange(len(points))
    if len(points) >= 4:
        try:
            candidates = ConvexHull(points).vertices
        except QhullError:  # collinear points: every point is a candidate (few in practice)
            pass
    hull = points[candidates]
    distances = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=-1)
    i, j = np.unravel_index(int(np.argmax(distances)), distances.shape)
    return int(candidates[i]), int(candidates[j]), float(distances[i, j])


def perpendicular_diameter(points: np.ndarray, direction: np.ndarray, bin_mm: float) -> tuple[int, int, float]:
    """Rows of the widest pair across ``direction`` and that width in mm.

    Points are grouped by their position along ``direction`` in bins of ``bin_mm`` (one voxel); the width of a
    group is its extent across the direction, and the widest group gives the perpendicular diameter.

    Args:
        points: (N, 2) positions in mm.
        direction: the longest diameter's direction (any length; zero for a single point).
        bin_mm: bin width along the direction (the in-plane voxel size).
    """
    norm = float(np.linalg.norm(direction))
    if norm == 0:
        return 0, 0, 0.0
    along_unit = direction / norm
    along, across = points @ along_unit, points @ np.array([-along_unit[1], along_unit[0]])
    bins = np.round(along / bin_mm).astype(np.int64)
    order = np.lexsort((across, bins))
    sorted_bins = bins[order]
    starts = np.flatnonzero(np.r_[True, sorted_bins[1:] != sorted_bins[:-1]])
    ends = np.r_[starts[1:], len(order)] - 1
    widths = across[order[ends]] - across[order[starts]]
    widest = int(np.argmax(widths))
    return int(order[starts[widest]]), int(order[ends[widest]]), float(widths[widest])


def measurement_rows(measurements: Measurements) -> list[tuple[str, str]]:
    """(name, value) rows for tables and the report, in display order."""
    rows = [(f"{name} volume (mL)", f"{volume:.2f}") for name, volume in measurements.volumes_ml.items()]
    rows.append((f"Lesions ({LESION_CONNECTIVITY}-connected)", str(measurements.lesions)))
    rano = measurements.bidimensional
    if rano is None:
        rows.append(("ET bidimensional product (mm²)", "no ET"))
        return rows
    rows += [("ET longest diameter (mm)", f"{rano.longest_mm:.1f}"),
             ("ET perpendicular diameter (mm)", f"{rano.perpendicular_mm:.1f}"),
             ("ET bidimensional product (mm²)", f"{rano.product_mm2:.1f}"),
             ("RANO axial slice", str(rano.slice_index))]
    return rows


def as_tsv(measurements: Measurements) -> str:
    """The rows as tab-separated text with a header line (pastes as a table into spreadsheets)."""
    return "\n".join(["Measurement\tValue", *(f"{n}\t{v}" for n, v in measurement_rows(measurements))]) + "\n"
