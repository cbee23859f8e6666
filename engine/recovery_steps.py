"""Undo / redo steps packed into plain arrays for the recovery file (``np.savez`` without pickling).

Strokes are stored back to back: ``<prefix>_indices``, ``_old`` and ``_new`` concatenated, ``_lengths`` the
voxel count of each stroke and ``_names`` their names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from engine.editing.history import Stroke


def pack_strokes(prefix: str, strokes: Sequence[Stroke]) -> dict[str, np.ndarray]:
    """The arrays that store ``strokes`` under keys starting with ``prefix``."""
    def joined(field: str, dtype: type) -> np.ndarray:
        parts = [getattr(stroke, field) for stroke in strokes]
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    return {
        f"{prefix}_indices": joined("indices", np.int32),
        f"{prefix}_old": joined("old", np.uint8),
        f"{prefix}_new": joined("new", np.uint8),
        f"{prefix}_lengths": np.array([len(stroke) for stroke in strokes], np.int64),
        f"{prefix}_names": np.array([stroke.name for stroke in strokes], dtype=str),
    }


def unpack_strokes(prefix: str, arrays: Mapping[str, np.ndarray]) -> list[Stroke]:
    """The strokes ``pack_strokes`` stored under ``prefix`` (an empty list when there are none).

    Raises:
        ValueError: the arrays are inconsistent (a damaged file).
    """
    if f"{prefix}_lengths" not in arrays:
        return []
    lengths = np.asarray(arrays[f"{prefix}_lengths"], np.int64)
    indices, old, new = (np.asarray(arrays[f"{prefix}_{key}"]) for key in ("indices", "old", "new"))
    names = [str(name) for name in arrays[f"{prefix}_names"]]
    if len(names) != lengths.size or not indices.size == old.size == new.size == int(lengths.sum()):
        raise ValueError(f"the saved {prefix} steps are inconsistent")
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [Stroke(indices[a:b].copy(), old[a:b].copy(), new[a:b].copy(), name)
            for a, b, name in zip(bounds[:-1], bounds[1:], names, strict=True)]
