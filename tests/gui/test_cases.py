"""The viewer on full-size cases: the bundled demo phantom and the shared real scans (BraTS 2020 style TCGA,
BraTS 2023 names, AURORA stored RAS). Assertions are on rendered pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.case import default_demo_case
from tests.gui.qt_helpers import grey_pixels, open_window, pixels

pytestmark = pytest.mark.gui

# Rows this close to the top/bottom edge hold the grey corner texts (slice number, window/level).
TEXT_MARGIN = 30


def real_case(real_data: Path, name: str) -> Path:
    folder = real_data / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (shared real data incomplete)")
    return folder


def brain_mask(image: np.ndarray) -> np.ndarray:
    """Rendered brain pixels: grey (not text or crosshair colours) and clearly brighter than background."""
    mask = grey_pixels(image, minimum=25)
    mask[:TEXT_MARGIN] = False
    mask[-TEXT_MARGIN:] = False
    return mask


def assert_anatomy_upright(window) -> None:
    """Superior up and anterior left in sagittal, anterior up in axial, on the mid-sagittal/axial slices.

    Sagittal: the lowest part of the brain (brainstem, cerebellum) lies behind the brain's centre, so in a
    view with anterior on the left and superior up it is right of the centre. Axial: the voxel under the
    brain's topmost rendered row lies further anterior (larger world y) than the one under its bottom row.
    """
    model = window.model
    centre = tuple(n // 2 for n in model.shape)
    model.set_cursor(centre)
    sagittal = brain_mask(pixels(window.sagittal_view))
    rows, columns = np.nonzero(sagittal)
    lowest = rows >= np.percentile(rows, 90)
    # Measured offsets: 33-54 px upright, at most 9 px with S/I flipped, negative with A/P flipped.
    assert columns[lowest].mean() > columns.mean() + 20, "sagittal: brainstem/cerebellum not posterior-inferior"
    axial_view = window.axial_view
    axial = brain_mask(pixels(axial_view))
    rows, columns = np.nonzero(axial)
    height = axial.shape[0]
    top, bottom = rows.min(), rows.max()
    column_top = int(np.median(columns[rows == top]))
    column_bottom = int(np.median(columns[rows == bottom]))
    # Rendered rows count from the top; VTK display y from the bottom.
    voxel_top = axial_view.display_to_voxel_at(column_top, height - 1 - top)
    voxel_bottom = axial_view.display_to_voxel_at(column_bottom, height - 1 - bottom)
    world_y = [(model.case.affine @ np.array([*voxel, 1.0]))[1] for voxel in (voxel_top, voxel_bottom)]
    assert world_y[0] > world_y[1] + 50, f"axial: top of brain at y={world_y[0]:.0f} mm, bottom {world_y[1]:.0f}"


def assert_not_uniform(image: np.ndarray) -> None:
    grey = image.astype(float).mean(axis=2)
    assert grey.std() > 20
    assert len(np.unique(image[..., 0])) > 50


def test_demo_case_axial_view_shows_an_image_with_labels(qtbot) -> None:
    window = open_window(qtbot, default_demo_case())
    assert window.model.case.folder == default_demo_case()
    assert_not_uniform(pixels(window.axial_view))
    model = window.model
    assert model.label is not None
    model.set_cursor(tuple(np.argwhere(model.label > 0).mean(axis=0).round().astype(int)))
    image = pixels(window.axial_view).astype(int)
    coloured = (image.max(axis=2) - image.min(axis=2)) > 60
    assert coloured[TEXT_MARGIN:-TEXT_MARGIN].sum() > 200  # the overlay is drawn around the cursor
    assert_anatomy_upright(window)


def test_tcga_case_with_tcga_names_loads_and_is_upright(qtbot, real_data: Path) -> None:
    window = open_window(qtbot, real_case(real_data, "TCGA-DU-7294"))
    assert window.model.case.case_id == "TCGA-DU-7294"
    assert window.model.modalities == ["t1", "t1ce", "t2", "flair"]
    assert_not_uniform(pixels(window.axial_view))
    assert_anatomy_upright(window)


def test_aurora_case_stored_ras_shows_the_same_way_up_as_tcga(qtbot, real_data: Path) -> None:
    """AURORA is stored RAS, TCGA LPS; after loading both, both display upright (not mirrored A/P or S/I)."""
    window = open_window(qtbot, real_case(real_data, "AURORA-example"))
    assert window.model.case.native_axcodes == ("R", "A", "S")
    assert_anatomy_upright(window)
    with qtbot.waitSignal(window.case_loaded, timeout=30_000):
        window.open_case(real_case(real_data, "TCGA-DU-7294"))
    assert window.model.case.native_axcodes == ("L", "P", "S")
    assert_anatomy_upright(window)


def test_brats_2023_names_load(qtbot, real_data: Path) -> None:
    window = open_window(qtbot, real_case(real_data, "BraTS-GLI-00001-000"))
    assert window.model.case.case_id == "BraTS-GLI-00001-000"
    assert [window.modality_combo.itemText(i) for i in range(window.modality_combo.count())] == \
        ["T1", "T1ce", "T2", "FLAIR"]
    assert_not_uniform(pixels(window.axial_view))
    before = pixels(window.axial_view)
    window.set_modality("flair")
    assert not np.array_equal(pixels(window.axial_view), before)
    assert_anatomy_upright(window)
