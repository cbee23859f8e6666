"""Fill the slices between two edited slices: shape-based interpolation of signed distance maps per label.

For every label drawn in either end slice, the in-plane signed distance (mm, negative inside) of its mask is
computed in both slices and blended linearly; a voxel between them is inside where the blend is <= 0. Where
labels overlap, the one deepest inside (lowest blended distance) wins. A label drawn in one end slice only
shrinks towards the other one and is gone about half way. In the slices between, the interpolated labels
replace what was there for those labels; other labels stay unless an interpolated shape covers them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _signed_distance(mask: np.ndarray, sampling: tuple[float, float]) -> np.ndarray | None:
    """In-plane signed distance in mm: negative inside, positive outside; None for an empty mask."""
    if not mask.any():
        return None
    outside = ndimage.distance_transform_edt(~mask, sampling=sampling) if not mask.all() else 0.0
    inside = ndimage.distance_transform_edt(mask, sampling=sampling)
    return outside - inside


def _end_distances(ends: tuple[np.ndarray, np.ndarray], value: int,
                   sampling: tuple[float, float]) -> list[np.ndarray]:
    """Signed distances of ``value`` in both end slices; an empty end gets a flat distance just above the
    other end's depth, so the shape shrinks to nothing exactly there."""
    first, last = (_signed_distance(end == value, sampling) for end in ends)
    if first is None:
        first = np.full(last.shape, -last.min() + min(sampling))  # type: ignore[union-attr]
    if last is None:
        last = np.full(first.shape, -first.min() + min(sampling))
    return [first, last]


def interpolate_slices(label: np.ndarray, axis: int, first: int, last: int, spacing: tuple[float, float, float],
                       labels: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The flat indices and new values that fill the slices strictly between ``first`` and ``last``.

    Args:
        label: label map (not changed; apply the result with ``EditHistory.apply``).
        axis: the axis the slices cut across (2 for axial slices).
        first: one edited slice index.
        last: the other edited slice index (at least two slices apart to have anything between).
        spacing: voxel size in mm per axis (the in-plane distances are in mm).
        labels: label values to interpolate (default: every non-zero label in either end slice).
    """
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    first, last = sorted((int(first), int(last)))
    if first < 0 or last >= label.shape[axis]:
        raise ValueError(f"slices {first} and {last} are outside 0..{label.shape[axis] - 1} along axis {axis}")
    ends = np.take(label, first, axis=axis), np.take(label, last, axis=axis)
    if labels is None:
        labels = tuple(int(v) for v in np.union1d(*ends) if v != 0)
    if last - first < 2 or not labels:
        return np.empty(0, np.int64), np.empty(0, label.dtype)
    sampling = tuple(s for a, s in enumerate(spacing) if a != axis)
    distances = [_end_distances(ends, value, sampling) for value in labels]
    indices, values = [], []
    for index in range(first + 1, last):
        weight = (index - first) / (last - first)
        new_slice = _blend_slice(np.take(label, index, axis=axis), distances, labels, weight)
        slice_indices = _slice_flat_indices(label.shape, axis, index)
        indices.append(slice_indices.ravel())
        values.append(new_slice.ravel())
    return np.concatenate(indices), np.concatenate(values).astype(label.dtype)


def _blend_slice(current: np.ndarray, distances: list[list[np.ndarray]], labels: tuple[int, ...],
                 weight: float) -> np.ndarray:
    blended = np.stack([(1 - weight) * a + weight * b for a, b in distances])
    deepest = np.argmin(blended, axis=0)
    inside = blended.min(axis=0) <= 0
    result = np.where(np.isin(current, labels), 0, current).astype(current.dtype)
    result[inside] = np.asarray(labels, current.dtype)[deepest[inside]]
    return result


def _slice_flat_indices(shape: tuple[int, ...], axis: int, index: int) -> np.ndarray:
    """Flat indices of one slice, laid out as ``np.take(array, index, axis)`` lays out its values."""
    ranges = [np.array([index]) if a == axis else np.arange(n) for a, n in enumerate(shape)]
    grids = np.meshgrid(*ranges, indexing="ij")
    return np.take(np.ravel_multi_index(tuple(grids), shape), 0, axis=axis)
