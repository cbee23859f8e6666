"""Orientation code: SimpleITK conversion, the working grid, exact axis mappings and resampling.

Property tests (hypothesis) cover all 48 axis orders and random obliquity on tiny grids.
"""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from engine.errors import GeometryError
from engine.geometry import (
    Grid,
    axis_mapping,
    check_affine,
    from_sitk,
    grown_box,
    overlap_fraction,
    resample,
    resample_labels,
    to_sitk,
    working_grid,
)
from engine.geometry import _labelwise_linear as labelwise_linear_uncropped

SIGNED_PERMUTATIONS = [
    np.eye(3)[list(order)] * np.array(signs)
    for order in itertools.permutations(range(3)) for signs in itertools.product((-1, 1), repeat=3)
]
FEW = settings(max_examples=25, deadline=None)

shapes = st.tuples(*[st.integers(2, 7)] * 3)
origins = st.tuples(*[st.floats(-50, 50, allow_nan=False)] * 3)


def grid_of(shape: tuple[int, int, int], axes: np.ndarray, spacing: tuple[float, ...], origin: tuple[float, ...]) -> Grid:
    affine = np.eye(4)
    affine[:3, :3] = axes * np.asarray(spacing)
    affine[:3, 3] = origin
    return Grid(shape, affine)


@FEW
@given(shape=shapes, orientation=st.integers(0, 47), origin=origins,
       spacing=st.tuples(*[st.floats(0.5, 3.0)] * 3))
def test_sitk_conversion_round_trips_data_and_affine(shape, orientation, origin, spacing) -> None:
    grid = grid_of(shape, SIGNED_PERMUTATIONS[orientation], spacing, origin)
    data = np.random.default_rng(0).random(shape).astype(np.float32)
    image = to_sitk(data, grid.affine)
    back, affine = from_sitk(image)
    assert np.array_equal(back, data)
    assert np.allclose(affine, grid.affine, atol=1e-6)
    # SimpleITK's physical point of a voxel is the LPS version of nibabel's RAS point.
    index = tuple(n - 1 for n in shape)
    ras = grid.affine @ np.array([*index, 1.0])
    assert np.allclose(image.TransformIndexToPhysicalPoint(index), ras[:3] * [-1, -1, 1], atol=1e-6)


@FEW
@given(shape=shapes, orientation=st.integers(0, 47), origin=st.tuples(*[st.integers(-30, 30)] * 3))
def test_one_mm_grids_map_exactly_in_every_axis_order(shape, orientation, origin) -> None:
    native = grid_of(shape, SIGNED_PERMUTATIONS[orientation], (1, 1, 1), origin)
    work = working_grid(native)
    assert work.axcodes == ("R", "A", "S")
    assert sorted(work.shape) == sorted(shape)
    assert axis_mapping(native, work) is not None
    data = np.random.default_rng(1).integers(0, 5, shape).astype(np.uint8)
    there = resample_labels(data, native, work)
    assert np.array_equal(resample_labels(there, work, native), data)
    # Every voxel keeps its world position: compare a voxel's value at the same world point.
    ijk = np.array([shape[0] - 1, 0, shape[2] // 2, 1.0])
    work_index = np.round(np.linalg.inv(work.affine) @ native.affine @ ijk).astype(int)[:3]
    assert there[tuple(work_index)] == data[tuple(ijk[:3].astype(int))]


@FEW
@given(shape=shapes, angles=st.tuples(*[st.floats(-40, 40)] * 3), orientation=st.integers(0, 47),
       spacing=st.tuples(*[st.floats(0.7, 4.0)] * 3), keep=st.booleans())
def test_working_grid_is_ras_isotropic_and_covers_the_reference(shape, angles, orientation, spacing, keep) -> None:
    axes = Rotation.from_euler("xyz", angles, degrees=True).as_matrix() @ SIGNED_PERMUTATIONS[orientation]
    native = grid_of(shape, axes, spacing, (3.0, -2.0, 1.0))
    work = working_grid(native, 1.0, keep_obliquity=keep)
    assert work.axcodes == ("R", "A", "S")
    assert np.allclose(work.spacing, 1.0)
    if not keep:
        assert np.allclose(work.affine[:3, :3], np.eye(3))
    # All reference voxel centres fall inside the working grid.
    corners = np.array([[a, b, c, 1.0] for a in (0, shape[0] - 1) for b in (0, shape[1] - 1) for c in (0, shape[2] - 1)])
    inside = (np.linalg.inv(work.affine) @ native.affine @ corners.T)[:3].T
    assert (inside >= -0.5 - 1e-6).all() and (inside <= np.array(work.shape) - 0.5 + 1e-6).all()
    assert overlap_fraction(native, work) == 1.0


@FEW
@given(source=st.integers(0, 47), target=st.integers(0, 47), shape=shapes)
def test_axis_mapping_agrees_with_the_affines(source, target, shape) -> None:
    a = grid_of(shape, SIGNED_PERMUTATIONS[source], (1, 1, 1), (0, 0, 0))
    b = working_grid(grid_of(shape, SIGNED_PERMUTATIONS[target], (1, 1, 1), (5, -4, 2)))
    mapping = axis_mapping(a, b)
    assert mapping is not None
    matrix, offset = mapping
    index = np.array([1, 0, 1])
    assert np.allclose(a.affine[:3, :3] @ (matrix @ index + offset) + a.affine[:3, 3],
                       b.affine[:3, :3] @ index + b.affine[:3, 3])


def test_half_voxel_shift_is_not_an_exact_mapping() -> None:
    a = grid_of((4, 4, 4), np.eye(3), (1, 1, 1), (0, 0, 0))
    b = grid_of((5, 4, 4), np.eye(3), (1, 1, 1), (0.4, 0, 0))
    assert axis_mapping(a, b) is None
    ramp = np.broadcast_to(np.arange(4, dtype=np.float32)[:, None, None], (4, 4, 4)).copy()
    shifted = resample(ramp, a, b, interpolation="linear")
    assert np.allclose(shifted[:3, 1, 1], [0.4, 1.4, 2.4])
    assert shifted[3, 1, 1] == pytest.approx(3.0)  # x = 3.4 mm: inside the last voxel's outer half, edge value
    assert shifted[4, 1, 1] == 0.0  # x = 4.4 mm: outside the field of view, fill


def test_resample_applies_a_transform_in_the_sitk_direction() -> None:
    grid = grid_of((9, 9, 9), np.eye(3), (1, 1, 1), (-4, -4, -4))
    data = np.zeros((9, 9, 9), np.float32)
    data[6, 4, 4] = 1.0  # RAS x = +2
    shift = sitk.TranslationTransform(3, (-2.0, 0.0, 0.0))  # target LPS point -> source point 2 mm further left
    moved = resample(data, grid, grid, shift, "nearest")
    # Source voxel at RAS x=+2 is LPS x=-2; a target point p samples p + (-2) in LPS, i.e. RAS x + 2.
    assert moved[4, 4, 4] == 1.0


def test_labelwise_linear_keeps_labels_and_background() -> None:
    source = grid_of((20, 20, 20), np.eye(3), (1, 1, 1), (0, 0, 0))
    target = grid_of((12, 12, 12), np.eye(3), (1.6, 1.6, 1.6), (0.3, 0.3, 0.3))
    label = np.zeros((20, 20, 20), np.uint8)
    label[4:16, 4:16, 4:16] = 2
    label[8:12, 8:12, 8:12] = 4
    out = resample_labels(label, source, target, "labelwise_linear")
    assert set(np.unique(out)) == {0, 2, 4}
    assert out.dtype == np.uint8
    assert out[0, 0, 0] == 0 and out[6, 6, 6] == 4


@FEW
@given(angles=st.tuples(*[st.floats(-20, 20)] * 3), spacing=st.tuples(*[st.floats(0.8, 5.0)] * 3),
       origin=st.tuples(*[st.floats(-2, 4)] * 3), corner=st.tuples(*[st.integers(0, 8)] * 3), rigid=st.booleans())
def test_labelwise_linear_on_the_labels_box_is_the_whole_grids_result(angles, spacing, origin, corner, rigid) -> None:
    """resample_labels interpolates only the labels' bounding box (plus a background rim): bit for bit the result of
    interpolating the whole grid, with labels inside, on the border, or both."""
    source = grid_of((24, 22, 20), np.eye(3), (1, 1, 1), (0, 0, 0))
    target = grid_of((20, 18, 16), Rotation.from_euler("xyz", angles, degrees=True).as_matrix(), spacing, origin)
    label = np.zeros(source.shape, np.uint8)
    i, j, k = corner
    label[i:i + 6, j:j + 5, k:k + 4] = 2
    label[i + 1:i + 4, j + 1:j + 3, k + 1:k + 3] = 1
    label[0, 21, k] = 4  # a voxel on two faces of the grid
    transform = sitk.Euler3DTransform()
    if rigid:
        transform.SetRotation(0.05, -0.03, 0.02)
        transform.SetTranslation([0.7, -0.4, 0.3])
    expected = labelwise_linear_uncropped(label, source, target, transform if rigid else None)
    assert np.array_equal(resample_labels(label, source, target, transform=transform if rigid else None), expected)
    assert not resample_labels(np.zeros_like(label), source, target).any()


def test_grown_box_is_the_nonzero_box_grown_per_axis_and_clipped() -> None:
    mask = np.zeros((10, 12, 8), np.uint8)
    assert grown_box(mask, 2) is None
    mask[3:5, 0:2, 6:7] = 4
    assert grown_box(mask, 0) == (slice(3, 5), slice(0, 2), slice(6, 7))
    assert grown_box(mask, 2) == (slice(1, 7), slice(0, 4), slice(4, 8))  # clipped at both ends of the array
    assert grown_box(mask, (1, 0, 3)) == (slice(2, 6), slice(0, 2), slice(3, 8))


def test_sheared_or_degenerate_affines_are_refused() -> None:
    sheared = np.eye(4)
    sheared[0, 1] = 0.5
    with pytest.raises(GeometryError, match="sheared"):
        check_affine(sheared, "x.nii.gz")
    with pytest.raises(GeometryError, match="degenerate"):
        check_affine(np.diag([1.0, 0.0, 1.0, 1.0]), "x.nii.gz")


def test_working_grid_of_brats_lps_grid_is_its_canonical_reorientation() -> None:
    affine = np.array([[-1.0, 0, 0, 0], [0, -1, 0, 239], [0, 0, 1, 0], [0, 0, 0, 1]])
    work = working_grid(Grid((240, 240, 155), affine))
    canonical = nib.as_closest_canonical(nib.Nifti1Image(np.zeros((240, 240, 155), np.uint8), affine))
    assert work.shape == canonical.shape
    assert np.allclose(work.affine, canonical.affine)
