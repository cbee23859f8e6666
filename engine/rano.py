"""RANO 2.0 bidimensional measurement of one enhancing lesion (Wen et al., J Clin Oncol 2023).

How a lesion is measured, as a neuroradiologist would on the axial images:

* The slice is the axial slice (voxel axis 2) with the lesion's largest enhancing cross-section.
* Cystic or necrotic lesions: RANO measures the enhancing rim together with the cavity it encloses (the outer
  extent of the lesion, as RANO allows for cystic and necrotic lesions). The measured region of a slice is
  therefore the enhancing tumour (ET) with its in-plane holes filled (``measured_region``); a C-shaped rim that
  does not close encloses nothing and is measured as the curved band it is.
* The longest diameter is the longest segment between two voxel centres of the region that stays INSIDE the
  region (every point sampled along it at most half a voxel apart lies in a region voxel), so a line never
  cuts across a curved band.
* The perpendicular diameter is the longest such inside segment at 90 +- 5 degrees to the longest one that
  crosses it.
* The end points are voxel centres (the handles a person drags snap to them); a length is measured from the
  outer edge of one end voxel to the outer edge of the other (the centre distance plus one voxel's size
  along the line), as a reader's calipers span the enhancing voxels, and the viewer draws the lines to
  those edges. A 10-voxel-wide lesion of 1 mm voxels thus measures 10 mm, not 9.
* A lesion is measurable when both diameters are at least 10 mm; up to three measurable lesions, the largest
  products first, are target lesions, whose products are summed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

AXIAL_AXIS = 2
MIN_MEASURABLE_MM = 10.0
MAX_TARGET_LESIONS = 3  # RANO 2.0: up to three enhancing target lesions
PERPENDICULAR_TOLERANCE_DEG = 5.0
#: the colour of the RANO diameters in the viewer and in the report (RGB 0-255): one constant for both
RANO_LINE_RGB = (51, 230, 255)
#: the colour of the draggable end-point handles in the viewer (RGB 0-255)
RANO_HANDLE_RGB = (255, 215, 0)
_MAX_BOUNDARY_POINTS = 1500  # pairs grow with its square; larger outlines are thinned evenly
_CHUNK = 4096
_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)
Voxel = tuple[int, int, int]


@dataclass(frozen=True)
class Bidimensional:
    """RANO bidimensional measurement of one lesion on one axial slice.

    Attributes:
        slice_index: axial slice (0-based index along voxel axis 2; shown as ``slice_number``).
        longest_mm: longest diameter inside the lesion (edge to edge of its end voxels).
        perpendicular_mm: longest inside diameter crossing it at 90 +- 5 degrees.
        longest_ends: the two voxels of the longest diameter.
        perpendicular_ends: the two voxels of the perpendicular diameter.
        corrected: a person moved the end points (the lengths are those of the moved lines).
    """

    slice_index: int
    longest_mm: float
    perpendicular_mm: float
    longest_ends: tuple[Voxel, Voxel]
    perpendicular_ends: tuple[Voxel, Voxel]
    corrected: bool = False

    @property
    def product_mm2(self) -> float:
        return self.longest_mm * self.perpendicular_mm

    @property
    def measurable(self) -> bool:
        """RANO: both diameters at least 10 mm."""
        return self.longest_mm >= MIN_MEASURABLE_MM and self.perpendicular_mm >= MIN_MEASURABLE_MM

    @property
    def slice_number(self) -> int:
        """The axial slice counted from 1, as every view, table and report shows it."""
        return self.slice_index + 1

    def with_ends(self, which: str, ends: tuple[Voxel, Voxel], spacing: tuple[float, float, float]) -> Bidimensional:
        """The measurement with ``which`` ("longest" or "perpendicular") moved to ``ends`` (on the same slice).

        Args:
            which: the diameter moved.
            ends: its new end voxels.
            spacing: voxel size in mm.
        """
        if which not in ("longest", "perpendicular"):
            raise ValueError(f"which must be 'longest' or 'perpendicular', got {which!r}")
        ends = tuple(tuple(int(v) for v in end) for end in ends)  # type: ignore[assignment]
        if any(end[AXIAL_AXIS] != self.slice_index for end in ends):
            raise ValueError(f"a RANO diameter must stay on its axial slice {self.slice_number}")
        length = segment_length_mm(ends[0], ends[1], spacing)
        fields = {"longest_ends": ends, "longest_mm": length} if which == "longest" else \
            {"perpendicular_ends": ends, "perpendicular_mm": length}
        return dataclasses.replace(self, corrected=True, **fields)


def segment_length_mm(a: Voxel, b: Voxel, spacing: tuple[float, float, float]) -> float:
    """Edge-to-edge length in mm of the in-plane segment between two voxels (0 when they are the same voxel)."""
    vector = np.subtract(b[:2], a[:2], dtype=float) * np.asarray(spacing[:2], dtype=float)
    return float(edge_lengths(vector[None, :], spacing)[0])


def edge_lengths(vectors_mm: np.ndarray, spacing: tuple[float, float, float]) -> np.ndarray:
    """Centre distance plus one voxel's size along each (N, 2) in-plane vector (0 for a zero vector).

    The voxel's size along unit direction u is 1 / sqrt((u_x / s_x)² + (u_y / s_y)²): the voxel size itself in
    every direction for square pixels, between the two sizes for oblong ones.
    """
    centre = np.hypot(vectors_mm[:, 0], vectors_mm[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        inverse = np.hypot(vectors_mm[:, 0] / spacing[0], vectors_mm[:, 1] / spacing[1]) / centre
        voxel = np.nan_to_num(1.0 / inverse)
    return np.where(centre > 0, centre + voxel, 0.0)


def measured_region(et_slice: np.ndarray) -> np.ndarray:
    """The region RANO measures on one slice: the enhancing rim with the cavity it encloses."""
    return ndimage.binary_fill_holes(et_slice)


def largest_cross_section(et: np.ndarray) -> int | None:
    """Index (axis 2) of the slice with the largest measured region (rim + enclosed cavity) of ``et``."""
    present = np.flatnonzero(et.any(axis=(0, 1)))
    if present.size == 0:
        return None
    areas = [np.count_nonzero(measured_region(et[..., z])) for z in present]
    return int(present[int(np.argmax(areas))])


def measure_lesion(et: np.ndarray, spacing: tuple[float, float, float],
                   offset: tuple[int, int, int] = (0, 0, 0)) -> Bidimensional | None:
    """RANO measurement of one lesion's enhancing tumour (None without ET).

    Args:
        et: boolean ET mask of the lesion (e.g. cropped to its bounding box).
        spacing: voxel size in mm.
        offset: voxel index of ``et[0, 0, 0]`` in the whole volume (end points are given in volume voxels).
    """
    index = largest_cross_section(et)
    if index is None:
        return None
    return measure_slice(measured_region(et[..., index]), spacing, index + offset[AXIAL_AXIS], offset[:2])


def measure_slice(region: np.ndarray, spacing: tuple[float, float, float], slice_index: int,
                  offset: tuple[int, int] = (0, 0)) -> Bidimensional:
    """Longest inside diameter and its inside perpendicular on one slice's region.

    Args:
        region: boolean 2D region (voxel axes 0, 1).
        spacing: voxel size in mm (the first two are used).
        slice_index: the slice's index in the volume.
        offset: voxel index of ``region[0, 0]`` in the slice.
    """
    points = _outline(region)
    mm = np.asarray(spacing[:2], dtype=float)
    first, second = _index_pairs(len(points))
    vectors = (points[second] - points[first]) * mm
    lengths = edge_lengths(vectors, spacing)
    order = np.argsort(-lengths, kind="stable")
    best = _first_inside(points, first[order], second[order], region)
    if best is None:  # a single voxel: no segment
        voxel = (int(points[0, 0] + offset[0]), int(points[0, 1] + offset[1]), int(slice_index))
        return Bidimensional(int(slice_index), 0.0, 0.0, (voxel, voxel), (voxel, voxel))
    a, b = first[order][best], second[order][best]
    c, d = _perpendicular(points, first, second, vectors, lengths, a, b, region, mm)

    def voxel(row: int) -> Voxel:
        return int(points[row, 0] + offset[0]), int(points[row, 1] + offset[1]), int(slice_index)

    longest = float(lengths[order][best])
    perpendicular = float(edge_lengths(((points[d] - points[c]) * mm)[None, :], spacing)[0])
    return Bidimensional(int(slice_index), longest, perpendicular, (voxel(a), voxel(b)), (voxel(c), voxel(d)))


def _outline(region: np.ndarray) -> np.ndarray:
    """(N, 2) voxel positions of the region's boundary voxels (those with a 4-neighbour outside it)."""
    boundary = region & ~ndimage.binary_erosion(region, _FOUR_CONNECTED, border_value=0)
    points = np.argwhere(boundary)
    if len(points) > _MAX_BOUNDARY_POINTS:  # very large outlines: every k-th voxel (still within a few voxels)
        points = points[:: math.ceil(len(points) / _MAX_BOUNDARY_POINTS)]
    return points


def _index_pairs(count: int) -> tuple[np.ndarray, np.ndarray]:
    if count < 2:
        return np.zeros(1, np.int32), np.zeros(1, np.int32)
    first, second = np.triu_indices(count, 1)
    return first.astype(np.int32), second.astype(np.int32)


def _inside(points: np.ndarray, first: np.ndarray, second: np.ndarray, region: np.ndarray,
            fractions: np.ndarray | None = None) -> np.ndarray:
    """For each pair, whether the segment between the two voxel centres stays in ``region``.

    Args:
        points: (N, 2) voxel positions.
        first, second: pair rows into ``points``.
        region: the 2D region.
        fractions: where to sample along each segment (0..1); default every half voxel or closer.
    """
    start, delta = points[first].astype(float), (points[second] - points[first]).astype(float)
    if fractions is None:
        steps = int(np.ceil(2 * np.abs(delta).max(initial=0))) + 1
        fractions = np.linspace(0.0, 1.0, max(steps, 2))
    samples = np.rint(start[:, None, :] + fractions[None, :, None] * delta[:, None, :]).astype(np.int64)
    return region[samples[..., 0], samples[..., 1]].all(axis=1)


def _first_inside(points: np.ndarray, first: np.ndarray, second: np.ndarray, region: np.ndarray) -> int | None:
    """Position of the first pair (in the given order) whose segment stays inside ``region``.

    A cheap check at a few points rules out most chords that leave the region before the full check.
    """
    if len(points) < 2:
        return None
    quick = np.array([0.25, 0.5, 0.75])
    for start in range(0, len(first), _CHUNK * 8):
        block = np.arange(start, min(start + _CHUNK * 8, len(first)))
        survivors = block[_inside(points, first[block], second[block], region, quick)]
        for offset in range(0, len(survivors), _CHUNK):
            chunk = survivors[offset:offset + _CHUNK]
            ok = _inside(points, first[chunk], second[chunk], region)
            if ok.any():
                return int(chunk[int(np.argmax(ok))])
    return None


def _perpendicular(points: np.ndarray, first: np.ndarray, second: np.ndarray, vectors: np.ndarray,
                   lengths: np.ndarray, a: int, b: int, region: np.ndarray, mm: np.ndarray) -> tuple[int, int]:
    """Rows of the longest inside segment at 90 +- 5 degrees to a-b that crosses it (a-b's middle if none)."""
    axis = (points[b] - points[a]) * mm
    axis /= np.linalg.norm(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.abs(vectors @ axis) / np.hypot(vectors[:, 0], vectors[:, 1])
    candidates = np.flatnonzero(cosine <= math.sin(math.radians(PERPENDICULAR_TOLERANCE_DEG)))
    candidates = candidates[_crosses(points[a] * mm, points[b] * mm, points[first[candidates]] * mm,
                                     points[second[candidates]] * mm)]
    candidates = candidates[np.argsort(-lengths[candidates], kind="stable")]
    best = _first_inside(points, first[candidates], second[candidates], region) if candidates.size else None
    if best is None:
        middle = int(np.argmin(np.linalg.norm(points - (points[a] + points[b]) / 2, axis=1)))
        return middle, middle
    return int(first[candidates[best]]), int(second[candidates[best]])


def _crosses(p: np.ndarray, q: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each segment starts[i]-ends[i] crosses segment p-q: p and q lie strictly on either side of it
    (so it meets p-q between its end points, not at them), and it reaches p-q (its own end may lie on it: a T)."""
    def side(o: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return (u[..., 0] - o[..., 0]) * (v[..., 1] - o[..., 1]) - (u[..., 1] - o[..., 1]) * (v[..., 0] - o[..., 0])

    eps = 1e-9
    d1, d2 = side(starts, ends, p), side(starts, ends, q)
    d3, d4 = side(p, q, starts), side(p, q, ends)
    return (d1 * d2 < -eps) & (d3 * d4 <= eps)


def assign_targets(products: list[tuple[object, Bidimensional | None]]) -> dict[object, str]:
    """RANO status of each lesion: "target" (the up to three measurable ones with the largest products),
    "non-target" (further measurable ones) or "non-measurable" (a diameter below 10 mm, or no enhancement).

    Args:
        products: (key, measurement or None) per lesion.
    """
    measurable = sorted((item for item in products if item[1] is not None and item[1].measurable),
                        key=lambda item: -item[1].product_mm2)  # type: ignore[union-attr]
    targets = {key for key, _ in measurable[:MAX_TARGET_LESIONS]}
    status = {}
    for key, rano in products:
        if rano is None or not rano.measurable:
            status[key] = "non-measurable"
        else:
            status[key] = "target" if key in targets else "non-target"
    return status
