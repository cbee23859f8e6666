"""The lesion table: one row per connected lesion of the whole tumour, with its volumes, place and RANO status.

Lesions are the 26-connected components of the whole tumour (any label > 0) of at least ``min_volume_ml``
(default 0.1 mL); smaller components are counted apart as "small foci", never as lesions. Each lesion has
its NCR / ED / ET / total volume, its centre (the lesion voxel nearest its centroid: a slice through it always
shows the lesion; slices are counted from 1 when shown), its hemisphere and lobe where the case can say, and
its RANO 2.0 measurement and status (``engine.rano``).

Hemisphere: left or right of the midline along the patient's left-right axis of the image orientation
(affine). The midline is the middle of the head's left-right extent on the reference image (the voxels above
5 % of its 99th percentile), which holds for heads not rotated far about the vertical axis; a lesion with at
least 10 % of its voxels on each side is "bilateral". Without an image or affine it is "n/a".
Lobe: "n/a" - telling the lobe needs a registered anatomical atlas, which RevSeg does not have.

``LesionCache`` keeps one entry per component (bounding box, mask, summary) and, after an edit, relabels
only the bounding box the edit touched together with the components it touches; every other lesion keeps its
summary (and a RANO correction made on it).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from engine.labels import EDEMA, ENHANCING, NECROSIS
from engine.rano import Bidimensional, assign_targets, measure_lesion

DEFAULT_MIN_LESION_ML = 0.1
LESION_CONNECTIVITY = 26
LOBE_UNKNOWN = "n/a"
_STRUCTURE = np.ones((3, 3, 3), dtype=bool)
_BILATERAL_FRACTION = 0.1
Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Lesion:
    """One row of the lesion table.

    Attributes:
        key: identifies the lesion across recomputations (stable while an edit does not touch it).
        number: its row number (1 = largest total volume).
        volumes_ml: "NCR", "ED", "ET" and "total" in mL.
        centre: the lesion voxel nearest its centroid (0-based voxel indices).
        box: bounding box (slices of voxel indices).
        hemisphere: "left", "right", "bilateral" or "n/a".
        lobe: the lobe, or "n/a" where RevSeg cannot tell.
        rano: RANO measurement of its enhancing tumour (None without ET).
        rano_status: "target", "non-target" or "non-measurable".
    """

    key: int
    number: int
    volumes_ml: dict[str, float]
    centre: tuple[int, int, int]
    box: Box = field(repr=False)
    hemisphere: str
    lobe: str = LOBE_UNKNOWN
    rano: Bidimensional | None = None
    rano_status: str = "non-measurable"

    @property
    def centre_slice(self) -> int:
        """Axial slice through the centre, counted from 1."""
        return self.centre[2] + 1


@dataclass(frozen=True)
class LesionTable:
    """The lesions above the minimum volume, the small foci below it, and the RANO sum of products.

    Attributes:
        lesions: rows, largest first.
        small_foci: components below ``min_volume_ml``.
        small_foci_ml: their total volume.
        min_volume_ml: the minimum lesion volume used.
    """

    lesions: tuple[Lesion, ...]
    small_foci: int
    small_foci_ml: float
    min_volume_ml: float

    @property
    def targets(self) -> tuple[Lesion, ...]:
        return tuple(lesion for lesion in self.lesions if lesion.rano_status == "target")

    @property
    def sum_of_products_mm2(self) -> float:
        """RANO sum of the products of the target lesions' diameters."""
        return float(sum(lesion.rano.product_mm2 for lesion in self.targets if lesion.rano is not None))

    @property
    def primary(self) -> Lesion | None:
        """The lesion whose RANO measurement is shown first: the largest target, else the largest measured."""
        measured = [lesion for lesion in self.lesions if lesion.rano is not None]
        ranked = sorted(measured, key=lambda lesion: (lesion.rano_status != "target", -lesion.rano.product_mm2))
        return ranked[0] if ranked else None

    def by_key(self, key: int) -> Lesion | None:
        return next((lesion for lesion in self.lesions if lesion.key == key), None)


@dataclass(frozen=True)
class Orientation:
    """Where the patient's left-right axis and the midline lie in voxel indices (for the hemisphere).

    Attributes:
        axis: voxel axis closest to the patient's left-right direction.
        right_is_up: True when the index grows towards the patient's right.
        midline: voxel position of the midline along ``axis``.
    """

    axis: int
    right_is_up: bool
    midline: float


def head_orientation(affine: np.ndarray | None, image: np.ndarray | None) -> Orientation | None:
    """The left-right axis from the affine and the midline from the head's extent on ``image`` (None if unknown).

    Args:
        affine: voxel-to-world (RAS, mm) matrix.
        image: a grey-value volume of the case (the head is where it is above 5 % of its 99th percentile).
    """
    if affine is None or image is None:
        return None
    axis = int(np.argmax(np.abs(np.asarray(affine)[0, :3])))
    sample = image[::4, ::4, ::4]
    positive = sample[sample > 0]
    if positive.size == 0:
        return None
    threshold = 0.05 * float(np.percentile(positive, 99))
    profile = np.flatnonzero((image > threshold).any(axis=tuple(a for a in range(3) if a != axis)))
    if profile.size == 0:
        return None
    return Orientation(axis, bool(affine[0, axis] > 0), (float(profile[0]) + float(profile[-1])) / 2)


def hemisphere(mask: np.ndarray, box: Box, orientation: Orientation | None) -> str:
    """"left", "right" or "bilateral" for a lesion ``mask`` cropped to ``box`` ("n/a" without orientation)."""
    if orientation is None:
        return "n/a"
    positions = np.nonzero(mask)[orientation.axis] + box[orientation.axis].start
    towards_right = (positions - orientation.midline) * (1 if orientation.right_is_up else -1)
    right = float(np.count_nonzero(towards_right > 0)) / max(len(positions), 1)
    left = float(np.count_nonzero(towards_right < 0)) / max(len(positions), 1)
    if right >= _BILATERAL_FRACTION and left >= _BILATERAL_FRACTION:
        return "bilateral"
    return "right" if right > left else "left"


@dataclass
class _Component:
    """One connected component: where it is and, for a lesion, its measurements."""

    key: int
    box: Box
    mask: np.ndarray
    voxels: int
    lesion: Lesion | None = None  # without number / status (those depend on the others)


class LesionCache:
    """The lesion table of a label map, updated incrementally after edits.

    Args:
        spacing: voxel size in mm.
        orientation: left-right axis and midline (``head_orientation``), or None ("n/a" hemispheres).
        min_volume_ml: minimum lesion volume; smaller components are small foci.
    """

    def __init__(self, spacing: tuple[float, float, float], orientation: Orientation | None = None,
                 min_volume_ml: float = DEFAULT_MIN_LESION_ML) -> None:
        if len(spacing) != 3 or any(not np.isfinite(s) or s <= 0 for s in spacing):
            raise ValueError(f"spacing must be three positive voxel sizes in mm, got {spacing}")
        self.spacing = tuple(float(s) for s in spacing)
        self.orientation = orientation
        self.min_volume_ml = check_min_volume(min_volume_ml)
        self._voxel_ml = float(np.prod(self.spacing)) / 1000.0
        self._previous: np.ndarray | None = None
        self._components: dict[int, _Component] = {}
        self._corrections: dict[int, Bidimensional] = {}
        self._keys = itertools.count(1)
        self.table = LesionTable((), 0, 0.0, self.min_volume_ml)
        self.last_changed_box: Box | None = None
        #: voxels of each label value (0..255) per axial slice of the last label map, kept up to date incrementally
        self.slice_counts = np.zeros((0, 256), dtype=np.int64)

    # --- updates --------------------------------------------------------------------------------------------
    def update(self, label: np.ndarray) -> LesionTable:
        """The table of ``label``, recomputing only what changed since the last call.

        Args:
            label: BraTS 2020 label map (0/1/2/4), the same array or a new one of the same shape.
        """
        if label.ndim != 3:
            raise ValueError(f"expected a 3D label map, got shape {label.shape}")
        if label.dtype.kind not in "ui":
            raise ValueError(f"expected an integer label map (BraTS labels 0/1/2/4), got dtype {label.dtype}; "
                             f"convert it with np.rint(...).astype(np.uint8)")
        if self._previous is None or self._previous.shape != label.shape:
            self._full(label)
        else:
            box = changed_box(self._previous, label)
            self.last_changed_box = box
            if box is None:
                return self.table
            self._partial(label, box)
            self.slice_counts[box[2]] += _slice_histogram(label[box]) - _slice_histogram(self._previous[box])
            self._previous[box] = label[box]
        self.table = self._assemble()
        return self.table

    def set_min_volume(self, min_volume_ml: float, label: np.ndarray) -> LesionTable:
        """Use another minimum lesion volume (components that become lesions are measured now)."""
        self.min_volume_ml = check_min_volume(min_volume_ml)
        for component in self._components.values():
            self._summarise(component, label)
        self.table = self._assemble()
        return self.table

    def correct(self, key: int, which: str, ends: tuple) -> LesionTable:
        """Move the end points of lesion ``key``'s ``which`` diameter ("longest" / "perpendicular")."""
        lesion = self.table.by_key(key)
        if lesion is None or lesion.rano is None:
            raise ValueError(f"no RANO measurement for lesion key {key} to correct")
        self._corrections[key] = lesion.rano.with_ends(which, ends, self.spacing)  # type: ignore[arg-type]
        self.table = self._assemble()
        return self.table

    def _full(self, label: np.ndarray) -> None:
        self._previous = label.copy()
        self.slice_counts = _slice_histogram(label)
        self._components.clear()
        self._corrections.clear()
        self.last_changed_box = None
        self._add_components(label, (slice(0, label.shape[0]), slice(0, label.shape[1]), slice(0, label.shape[2])),
                             None)

    def _partial(self, label: np.ndarray, box: Box) -> None:
        grown = _grow(box, label.shape)
        touched = [c for c in self._components.values() if _overlap(c.box, grown)]
        touched_keys = {c.key for c in touched}
        region = _union([grown, *(c.box for c in touched)])
        foreign = np.zeros(tuple(s.stop - s.start for s in region), dtype=bool)
        for component in self._components.values():
            if component.key not in touched_keys and _overlap(component.box, region):
                _paint(foreign, region, component)
        old = {(_box_key(c.box), c.voxels): c for c in touched}
        for component in touched:
            del self._components[component.key]
        self._add_components(label, region, foreign, old, box)

    def _add_components(self, label: np.ndarray, region: Box, foreign: np.ndarray | None,
                        old: dict | None = None, changed: Box | None = None) -> None:
        """Label ``region`` of the whole tumour and add its components, except those overlapping ``foreign``.

        A component identical to an old one (``old``: by box and size) that the ``changed`` box misses keeps
        the old summary and correction.
        """
        crop = label[region]
        components, count = ndimage.label(crop > 0, structure=_STRUCTURE)
        for index, local in enumerate(ndimage.find_objects(components), start=1):
            if local is None:
                continue
            mask = components[local] == index
            if foreign is not None and foreign[local][mask].any():
                continue  # a piece of a component the edit did not touch: kept as it was
            box = tuple(slice(s.start + r.start, s.stop + r.start) for s, r in zip(local, region, strict=True))
            reused = (old or {}).get((_box_key(box), int(mask.sum())))  # type: ignore[arg-type]
            if reused is not None and not _overlap(box, changed) and np.array_equal(reused.mask, mask):  # type: ignore[arg-type]
                self._components[reused.key] = reused  # unchanged: keep its summary and correction
                continue
            component = _Component(next(self._keys), box, mask, int(mask.sum()))  # type: ignore[arg-type]
            self._summarise(component, label)
            self._components[component.key] = component
        live = set(self._components)
        self._corrections = {k: v for k, v in self._corrections.items() if k in live}

    def _summarise(self, component: _Component, label: np.ndarray) -> None:
        if component.voxels * self._voxel_ml < self.min_volume_ml or component.lesion is not None:
            return
        values = label[component.box][component.mask]
        counts = {"NCR": int(np.count_nonzero(values == NECROSIS)), "ED": int(np.count_nonzero(values == EDEMA)),
                  "ET": int(np.count_nonzero(values == ENHANCING))}
        volumes = {name: round(n * self._voxel_ml, 3) for name, n in counts.items()}
        volumes["total"] = round(component.voxels * self._voxel_ml, 3)
        et = component.mask & (label[component.box] == ENHANCING)
        offset = tuple(s.start for s in component.box)
        component.lesion = Lesion(component.key, 0, volumes, _centre(component.mask, offset), component.box,
                                  hemisphere(component.mask, component.box, self.orientation),
                                  rano=measure_lesion(et, self.spacing, offset))  # type: ignore[arg-type]

    def _assemble(self) -> LesionTable:
        lesions, foci, foci_voxels = [], 0, 0
        for component in self._components.values():
            if component.voxels * self._voxel_ml < self.min_volume_ml:
                foci, foci_voxels = foci + 1, foci_voxels + component.voxels
            else:
                lesion = component.lesion
                rano = self._corrections.get(component.key, lesion.rano)  # type: ignore[union-attr]
                lesions.append(dataclasses.replace(lesion, rano=rano))  # type: ignore[arg-type]
        lesions.sort(key=lambda lesion: (-lesion.volumes_ml["total"], lesion.centre))
        status = assign_targets([(lesion.key, lesion.rano) for lesion in lesions])
        rows = tuple(dataclasses.replace(lesion, number=n, rano_status=status[lesion.key])
                     for n, lesion in enumerate(lesions, start=1))
        return LesionTable(rows, foci, round(foci_voxels * self._voxel_ml, 3), self.min_volume_ml)


def lesion_table(label: np.ndarray, spacing: tuple[float, float, float], *, affine: np.ndarray | None = None,
                 image: np.ndarray | None = None, min_volume_ml: float = DEFAULT_MIN_LESION_ML) -> LesionTable:
    """The lesion table of ``label`` computed from scratch.

    Args:
        label: BraTS 2020 label map.
        spacing: voxel size in mm.
        affine: voxel-to-world matrix (for the hemisphere).
        image: a grey-value volume on the same grid (for the midline).
        min_volume_ml: smaller components are small foci.
    """
    if label.dtype.kind == "f" and np.array_equal(label, np.rint(label)):
        label = label.astype(np.uint8)  # label maps stored as float (e.g. BraTS 2023 files): whole numbers
    return LesionCache(spacing, head_orientation(affine, image), min_volume_ml).update(label)


def check_min_volume(min_volume_ml: float) -> float:
    value = float(min_volume_ml)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"the minimum lesion volume must be a number of mL >= 0, got {min_volume_ml!r}")
    return value


def _slice_histogram(label: np.ndarray) -> np.ndarray:
    """(slices along axis 2, 256) voxel counts of each label value per axial slice."""
    return np.stack([np.bincount(label[..., z].ravel(), minlength=256) for z in range(label.shape[2])]) \
        if label.shape[2] else np.zeros((0, 256), dtype=np.int64)


def changed_box(before: np.ndarray, after: np.ndarray) -> Box | None:
    """Bounding box of the voxels that differ (None when none do)."""
    flat = np.flatnonzero(before != after)
    if flat.size == 0:
        return None
    coordinates = np.unravel_index(flat, after.shape)
    return tuple(slice(int(c.min()), int(c.max()) + 1) for c in coordinates)  # type: ignore[return-value]


def _centre(mask: np.ndarray, offset: tuple[int, ...]) -> tuple[int, int, int]:
    voxels = np.argwhere(mask)
    nearest = voxels[int(np.argmin(((voxels - voxels.mean(axis=0)) ** 2).sum(axis=1)))]
    return tuple(int(v + o) for v, o in zip(nearest, offset, strict=True))  # type: ignore[return-value]


def _box_key(box: Box) -> tuple[tuple[int, int], ...]:
    return tuple((s.start, s.stop) for s in box)  # slices are not hashable before Python 3.12


def _grow(box: Box, shape: tuple[int, ...]) -> Box:
    return tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(box, shape, strict=True))  # type: ignore[return-value]


def _overlap(a: Box, b: Box) -> bool:
    return all(x.start < y.stop and y.start < x.stop for x, y in zip(a, b, strict=True))


def _union(boxes: list[Box]) -> Box:
    return tuple(slice(min(b[a].start for b in boxes), max(b[a].stop for b in boxes)) for a in range(3))  # type: ignore[return-value]


def _paint(target: np.ndarray, region: Box, component: _Component) -> None:
    """Mark ``component``'s voxels inside ``region`` in ``target`` (an array the size of ``region``)."""
    inner = tuple(slice(max(c.start, r.start), min(c.stop, r.stop)) for c, r in zip(component.box, region, strict=True))
    mask = component.mask[tuple(slice(i.start - c.start, i.stop - c.start) for i, c in zip(inner, component.box, strict=True))]
    target[tuple(slice(i.start - r.start, i.stop - r.start) for i, r in zip(inner, region, strict=True))] |= mask
