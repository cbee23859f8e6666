"""Voxel grids, the working grid, and resampling between grids without losing track of orientation.

Conventions: a ``Grid`` pairs a 3D shape with a 4x4 voxel-to-world affine in RAS+ millimetres (the NIfTI /
nibabel convention). An array ``data[i, j, k]`` on a grid has voxel (i, j, k) at ``affine @ (i, j, k, 1)``.
SimpleITK works in LPS+; ``to_sitk`` / ``from_sitk`` convert, flipping the sign of the first two world axes,
and transpose because SimpleITK's numpy view is indexed (k, j, i).

When two grids differ only by a permutation or flip of axes and a whole-voxel shift (BraTS data stored LPS
versus the RAS working grid), ``resample`` copies voxels exactly instead of interpolating.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from engine.errors import GeometryError
from engine.labels import distinct_values
from engine.lazy import lazy_module

# SimpleITK loads on first use: the case loader and the trainer only need ``Grid`` from here.
sitk = lazy_module("SimpleITK", "resampling and registration need SimpleITK (pip install SimpleITK)")

log = logging.getLogger(__name__)

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Grids whose affines agree to 1e-3 mm are one grid: writing software leaves float noise far below a voxel.
SAME_GRID_TOLERANCE_MM = 1e-3
INTERPOLATIONS = ("linear", "nearest", "bspline")
LABEL_METHODS = ("nearest", "labelwise_linear")


@dataclass(frozen=True, eq=False)
class Grid:
    """A voxel grid: shape and voxel-to-world (RAS+, mm) affine.

    Attributes:
        shape: number of voxels along the three array axes.
        affine: 4x4 matrix mapping voxel indices to RAS+ world millimetres.
    """

    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def spacing(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def axcodes(self) -> tuple[str, str, str]:
        return tuple(nib.aff2axcodes(self.affine))  # type: ignore[return-value]

    @property
    def voxel_volume_ml(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0

    def same_as(self, other: Grid, tolerance_mm: float = SAME_GRID_TOLERANCE_MM) -> bool:
        """True when both grids have one shape and affines equal within ``tolerance_mm``."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=tolerance_mm))

    def fov_corners(self) -> np.ndarray:
        """World (RAS) positions of the 8 outer corners of the field of view (voxel edges, not centres), (8, 3)."""
        edges = [(-0.5, n - 0.5) for n in self.shape]
        corners = np.array([[a, b, c, 1.0] for a in edges[0] for b in edges[1] for c in edges[2]])
        return (self.affine @ corners.T).T[:, :3]

    def to_dict(self) -> dict[str, object]:
        return {"shape": list(self.shape), "affine": np.round(self.affine, 6).tolist()}

    @staticmethod
    def from_dict(values: dict[str, object]) -> Grid:
        return Grid(tuple(int(n) for n in values["shape"]), np.array(values["affine"], dtype=float))  # type: ignore[arg-type]


def check_affine(affine: np.ndarray, name: str) -> None:
    """Refuse affines that cannot describe an MRI grid: singular, non-finite or sheared.

    Args:
        affine: 4x4 voxel-to-world matrix.
        name: what the affine belongs to, for the message.

    Raises:
        GeometryError: when the matrix is unusable.
    """
    linear = np.asarray(affine, dtype=float)[:3, :3]
    if not np.isfinite(affine).all() or abs(np.linalg.det(linear)) < 1e-9:
        raise GeometryError(f"{name} has a degenerate voxel-to-world matrix; its header geometry is broken")
    unit = linear / np.linalg.norm(linear, axis=0)
    if np.abs(unit.T @ unit - np.eye(3)).max() > 1e-3:
        raise GeometryError(f"{name} has sheared (non-orthogonal) voxel axes; resample it to an orthogonal grid first")


def to_sitk(data: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A SimpleITK image (LPS physical space) holding ``data`` on the grid given by the RAS ``affine``.

    Args:
        data: 3D array indexed (i, j, k).
        affine: 4x4 RAS voxel-to-world matrix.
    """
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data).transpose(2, 1, 0)))
    lps = RAS_TO_LPS @ np.asarray(affine, dtype=float)
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(v) for v in (lps[:3, :3] / spacing).ravel()))
    image.SetOrigin(tuple(float(v) for v in lps[:3, 3]))
    return image


def from_sitk(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """The (i, j, k)-indexed array and RAS affine of a SimpleITK image (inverse of ``to_sitk``)."""
    data = sitk.GetArrayFromImage(image).transpose(2, 1, 0)
    return np.ascontiguousarray(data), sitk_affine(image)


def sitk_affine(image: sitk.Image) -> np.ndarray:
    """RAS voxel-to-world affine of a SimpleITK image."""
    lps = np.eye(4)
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    lps[:3, :3] = direction * np.array(image.GetSpacing(), dtype=float)
    lps[:3, 3] = image.GetOrigin()
    return RAS_TO_LPS @ lps


def reference_image(grid: Grid) -> sitk.Image:
    """An empty SimpleITK image with the geometry of ``grid``, for ``sitk.Resample``."""
    image = sitk.Image([int(n) for n in grid.shape], sitk.sitkUInt8)
    geometry = to_sitk(np.zeros((1, 1, 1), np.uint8), grid.affine)
    image.SetSpacing(geometry.GetSpacing())
    image.SetDirection(geometry.GetDirection())
    image.SetOrigin(geometry.GetOrigin())
    return image


def working_axes(reference: Grid, keep_obliquity: bool = True) -> np.ndarray:
    """Unit axis directions (3x3, columns) of the working grid built on ``reference``.

    Args:
        reference: the T1ce's grid.
        keep_obliquity: True: the reference's own axes, permuted and flipped to the closest RAS+ order (as
            ``nibabel.as_closest_canonical`` does), so an oblique 1 mm acquisition maps exactly; False: the
            world axes (the volume is rotated into a "de-obliqued" grid, which interpolates).
    """
    if not keep_obliquity:
        return np.eye(3)
    unit = reference.affine[:3, :3] / np.linalg.norm(reference.affine[:3, :3], axis=0)
    axes = np.zeros((3, 3))
    for voxel_axis, (world_axis, flip) in enumerate(nib.orientations.io_orientation(reference.affine)):
        axes[:, int(world_axis)] = unit[:, voxel_axis] * flip
    return axes


def working_grid(reference: Grid, spacing_mm: float = 1.0, keep_obliquity: bool = True) -> Grid:
    """The working grid: RAS+ ordered axes, isotropic ``spacing_mm``, covering ``reference``'s field of view.

    The grid spans the bounding box of the reference's field of view along the working axes. For a reference
    with voxels of ``spacing_mm`` (BraTS data, or any 1 mm acquisition, oblique or not, when obliquity is
    kept) its voxel centres coincide with the reference's, so mapping between the two is an exact
    permutation / flip of axes.

    Args:
        reference: grid of the reference volume (the T1ce), in its stored orientation.
        spacing_mm: voxel size of the working grid.
        keep_obliquity: see ``working_axes``.
    """
    if spacing_mm <= 0:
        raise ValueError(f"working spacing must be positive, got {spacing_mm}")
    axes = working_axes(reference, keep_obliquity)
    along_axes = reference.fov_corners() @ axes  # corner coordinates in the working frame
    low, high = along_axes.min(axis=0), along_axes.max(axis=0)
    # 1e-3 voxel of slack so that float noise in an exact 1 mm grid does not add a voxel.
    shape = tuple(int(np.ceil((hi - lo) / spacing_mm - 1e-3)) for lo, hi in zip(low, high, strict=True))
    affine = np.eye(4)
    affine[:3, :3] = axes * spacing_mm
    affine[:3, 3] = axes @ (low + spacing_mm / 2)
    return Grid(shape, affine)  # type: ignore[arg-type]


def axis_mapping(source: Grid, target: Grid) -> tuple[np.ndarray, np.ndarray] | None:
    """When target voxels are source voxels up to axis permutation / flip / whole-voxel shift, that mapping.

    Returns:
        (matrix, offset) with ``source_index = matrix @ target_index + offset`` (integers), or None when the
        grids need interpolation.
    """
    mapping = np.linalg.inv(source.affine) @ target.affine
    matrix, offset = np.round(mapping[:3, :3]), np.round(mapping[:3, 3])
    if not np.allclose(mapping[:3, :3], matrix, atol=1e-4) or not np.allclose(mapping[:3, 3], offset, atol=1e-3):
        return None
    if not (np.abs(matrix).sum(axis=0) == 1).all() or not (np.abs(matrix).sum(axis=1) == 1).all():
        return None
    return matrix.astype(int), offset.astype(int)


def _copy_mapped(data: np.ndarray, target: Grid, matrix: np.ndarray, offset: np.ndarray, fill: float) -> np.ndarray:
    """Copy voxels along an exact axis mapping; voxels that fall outside ``data`` get ``fill``."""
    out = np.full(target.shape, fill, dtype=data.dtype)
    source_axes = [int(np.flatnonzero(matrix[:, d])[0]) for d in range(3)]
    coords, keep = [], []
    for d in range(3):
        src = matrix[source_axes[d], d] * np.arange(target.shape[d]) + offset[source_axes[d]]
        valid = (src >= 0) & (src < data.shape[source_axes[d]])
        coords.append(src[valid])
        keep.append(np.flatnonzero(valid))
    if all(len(c) for c in coords):
        view = data.transpose(source_axes)
        out[np.ix_(*keep)] = view[np.ix_(*coords)]
    return out


_SITK_INTERPOLATORS = {"linear": "sitkLinear", "nearest": "sitkNearestNeighbor", "bspline": "sitkBSpline"}


def resample(
    data: np.ndarray,
    source: Grid,
    target: Grid,
    transform: sitk.Transform | None = None,
    interpolation: str = "linear",
    fill: float = 0.0,
) -> np.ndarray:
    """Resample ``data`` from the ``source`` grid onto the ``target`` grid.

    Args:
        data: array on ``source``.
        source: grid of ``data``.
        target: grid to sample on.
        transform: maps target-world points to source-world points (LPS, SimpleITK convention); None is the
            identity. A registration of the source onto the target's image gives exactly this transform.
        interpolation: "linear", "nearest" or "bspline".
        fill: value for target voxels outside the source's field of view.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}; use one of {INTERPOLATIONS}")
    if data.shape != source.shape:
        raise ValueError(f"array shape {data.shape} does not match its grid {source.shape}")
    if transform is None:
        mapping = axis_mapping(source, target)
        if mapping is not None:
            return _copy_mapped(data, target, *mapping, fill=fill)
    transform = transform or sitk.Transform(3, sitk.sitkIdentity)
    if interpolation == "nearest":
        image = to_sitk(data, source.affine)
        out = sitk.Resample(image, reference_image(target), transform, sitk.sitkNearestNeighbor, float(fill),
                            image.GetPixelID())
        return from_sitk(out)[0]
    return _resample_padded(data.astype(np.float32, copy=False), source, target, transform, interpolation, fill)


def _resample_padded(data: np.ndarray, source: Grid, target: Grid, transform: sitk.Transform, interpolation: str,
                     fill: float) -> np.ndarray:
    """Interpolate up to the edges of the field of view, not just up to the outermost voxel centres.

    ITK's interpolators return the fill value in the outer half voxel of an image (beyond the last centre), which
    would cut half a slice off each end of a 5 mm series. Padding with edge values and masking with a
    nearest-neighbour indicator keeps that half voxel and nothing beyond it.
    """
    padded = np.pad(data, 1, mode="edge")
    shifted = source.affine.copy()
    shifted[:3, 3] -= source.affine[:3, :3] @ np.ones(3)
    inside = np.pad(np.ones(data.shape, np.uint8), 1)
    reference = reference_image(target)
    values = sitk.Resample(to_sitk(padded, shifted), reference, transform, getattr(sitk, _SITK_INTERPOLATORS[interpolation]), 0.0,
                           sitk.sitkFloat32)
    within = sitk.Resample(to_sitk(inside, shifted), reference, transform, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    result, mask = from_sitk(values)[0], from_sitk(within)[0].astype(bool)
    result[~mask] = fill
    return result


def resample_labels(
    label: np.ndarray,
    source: Grid,
    target: Grid,
    method: str = "labelwise_linear",
    transform: sitk.Transform | None = None,
) -> np.ndarray:
    """Resample an integer label map between grids.

    Args:
        label: integer label map on ``source`` (0 is background).
        source: grid of ``label``.
        target: grid to sample on.
        method: "nearest", or "labelwise_linear": each label's indicator is interpolated linearly and every
            voxel takes the label of highest weight (background included). It keeps boundaries smooth where
            grids differ in spacing or rotation, where nearest-neighbour sampling makes staircases.
        transform: as for ``resample``.
    """
    if method not in LABEL_METHODS:
        raise ValueError(f"unknown label resampling method {method!r}; use one of {LABEL_METHODS}")
    label = np.asarray(label)
    if method == "nearest" or (transform is None and axis_mapping(source, target) is not None):
        return resample(label, source, target, transform, "nearest", 0).astype(label.dtype)
    cropped = _crop_to_labels(label, source)
    if cropped is None:
        return np.zeros(target.shape, label.dtype)
    return _labelwise_linear(*cropped, target, transform)


def _labelwise_linear(label: np.ndarray, source: Grid, target: Grid, transform: sitk.Transform | None) -> np.ndarray:
    """``resample_labels``' "labelwise_linear" method on a label map that has labels."""
    values = [int(v) for v in distinct_values(label) if v != 0]
    weights = [resample((label == v).astype(np.float32), source, target, transform, "linear") for v in values]
    stack = np.stack([1.0 - np.sum(weights, axis=0)] + weights)
    winners = np.argmax(stack, axis=0)
    return np.asarray([0] + values, dtype=label.dtype)[winners]


def _crop_to_labels(label: np.ndarray, source: Grid) -> tuple[np.ndarray, Grid] | None:
    """``label`` cut to the bounding box of its labelled voxels plus one background voxel each side (where the
    grid has it), with the box's grid; None when nothing is labelled.

    Why: each label's indicator is interpolated over the whole source grid, yet it is zero beyond the box, and
    zero on the box's background rim. Interpolating the box alone gives the same weights bit for bit (zero beyond
    the rim either way) at a fraction of the cost: a tumour's box is a few per cent of a head.
    """
    box = grown_box(label, 1)
    if box is None:
        return None
    low = np.array([b.start for b in box], dtype=float)
    affine = source.affine.copy()
    affine[:3, 3] = source.affine[:3, :3] @ low + source.affine[:3, 3]
    return label[box], Grid(tuple(b.stop - b.start for b in box), affine)  # type: ignore[arg-type]


def grown_box(mask: np.ndarray, margin: int | Sequence[int]) -> tuple[slice, ...] | None:
    """The bounding box of ``mask``'s nonzero voxels grown by ``margin`` voxels (one number, or one per axis),
    clipped to the array; None when no voxel is nonzero."""
    if not mask.any():
        return None
    margins = [margin] * mask.ndim if isinstance(margin, int) else list(margin)
    box = []
    for axis, grow in enumerate(margins):
        hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(slice(max(int(hits[0]) - grow, 0), min(int(hits[-1]) + 1 + grow, mask.shape[axis])))
    return tuple(box)


def overlap_fraction(a: Grid, b: Grid, transform: sitk.Transform | None = None, samples: int = 12) -> float:
    """Fraction of ``a``'s field of view that lies inside ``b``'s, estimated on a coarse lattice of points.

    Args:
        a: grid whose field of view is sampled.
        b: grid tested for containing the points.
        transform: maps a-world points to b-world points (LPS, SimpleITK convention); None is the identity.
        samples: lattice points per axis.
    """
    axes = [(np.arange(samples) + 0.5) / samples * n - 0.5 for n in a.shape]  # cell centres: never on an edge
    ijk = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    world = (a.affine @ np.c_[ijk, np.ones(len(ijk))].T).T[:, :3]
    if transform is not None:
        lps = world * [-1, -1, 1]
        world = np.array([transform.TransformPoint(tuple(p)) for p in lps]) * [-1, -1, 1]
    inside = np.linalg.inv(b.affine) @ np.c_[world, np.ones(len(world))].T
    tolerance = 1e-6
    within = np.all((inside[:3].T >= -0.5 - tolerance) & (inside[:3].T <= np.array(b.shape) - 0.5 + tolerance), axis=1)
    return float(within.mean())
