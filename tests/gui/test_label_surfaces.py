"""Incremental 3D tumour surfaces: after an in-place edit only the classes it touched are recomputed, and the
result is the surface a full rebuild gives. VTK filters only (no render window), so no display is needed."""

from __future__ import annotations

import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkRenderingCore import vtkRenderer

from gui.viewer.label_surfaces import LabelSurfaces, changed_box, mask_box
from gui.viewer.overlay_style import OverlayStyle

SHAPE = (40, 44, 36)
ORIGIN = np.array([-20.0, -22.0, -18.0])
SPACING = (1.0, 1.0, 1.5)


def tumour() -> np.ndarray:
    """Oedema ball (2) around a core ball (1) with an enhancing rim (4)."""
    i, j, k = np.ogrid[:SHAPE[0], :SHAPE[1], :SHAPE[2]]
    r2 = (i - 20) ** 2 + (j - 22) ** 2 + ((k - 18) * 1.5) ** 2
    label = np.zeros(SHAPE, np.uint8)
    label[r2 < 12**2] = 2
    label[r2 < 8**2] = 4
    label[r2 < 5**2] = 1
    return label


def points(surfaces: LabelSurfaces, value: int) -> np.ndarray:
    """The surface's points, sorted (row order) so that two builds of one surface compare equal."""
    data = surfaces.actors[value].GetMapper().GetInput()
    array = vtk_to_numpy(data.GetPoints().GetData()).astype(np.float64)
    return array[np.lexsort(array.T[::-1])]


def fresh(label: np.ndarray, style: OverlayStyle) -> LabelSurfaces:
    surfaces = LabelSurfaces(vtkRenderer())
    surfaces.update(label.copy(), style, ORIGIN, SPACING)
    return surfaces


@pytest.mark.parametrize("regions", [(), ("WT", "TC", "ET")])
def test_an_edit_recomputes_only_the_touched_classes_and_matches_a_full_rebuild(regions: tuple) -> None:
    style = OverlayStyle().replace(regions=regions) if regions else OverlayStyle()
    label = tumour()
    renderer = vtkRenderer()
    surfaces = LabelSurfaces(renderer)
    surfaces.update(label, style, ORIGIN, SPACING)
    assert surfaces.last_update[0] == "full" and len(surfaces.actors) == 3
    before = dict(surfaces.actors)
    label[8:12, 20:25, 17:19] = 2  # oedema painted outside the tumour, in place: only the outer shell changes
    surfaces.update(label, style, ORIGIN, SPACING)
    outer = 2 if not regions else 1  # oedema (labels) or WT (regions, class 1)
    assert surfaces.last_update == ("incremental", (outer,))
    assert surfaces.actors[outer] is not before[outer]
    assert all(surfaces.actors[v] is before[v] for v in surfaces.actors if v != outer)
    assert renderer.GetActors().GetNumberOfItems() == 3
    reference = fresh(label, style)
    for value in surfaces.actors:
        assert np.allclose(points(surfaces, value), points(reference, value), atol=1e-4)


def test_edits_that_grow_past_the_crop_add_and_remove_classes_as_a_rebuild_would() -> None:
    style = OverlayStyle()
    label = tumour()
    surfaces = LabelSurfaces(vtkRenderer())
    surfaces.update(label, style, ORIGIN, SPACING)
    label[1:4, 1:5, 0:3] = 4  # far from the tumour (beyond the crop margin) and at the volume's edge
    surfaces.update(label, style, ORIGIN, SPACING)
    label[label == 1] = 0  # no necrosis left: its surface goes
    surfaces.update(label, style, ORIGIN, SPACING)
    reference = fresh(label, style)
    assert set(surfaces.actors) == set(reference.actors) == {2, 4}
    for value in surfaces.actors:
        assert np.allclose(points(surfaces, value), points(reference, value), atol=1e-4)
    label[:] = 0
    surfaces.update(label, style, ORIGIN, SPACING)
    assert surfaces.actors == {}


def test_a_new_label_map_or_style_rebuilds_and_clear_lets_the_label_copy_go() -> None:
    label = tumour()
    surfaces = LabelSurfaces(vtkRenderer())
    surfaces.update(label, OverlayStyle(), ORIGIN, SPACING)
    surfaces.update(label, OverlayStyle(), ORIGIN, SPACING)
    assert surfaces.last_update == ("incremental", ())  # nothing changed: nothing recomputed
    surfaces.update(label.copy(), OverlayStyle(), ORIGIN, SPACING)
    assert surfaces.last_update[0] == "full"
    surfaces.update(label, OverlayStyle().replace(regions=("WT", "TC", "ET")), ORIGIN, SPACING)
    assert surfaces.last_update[0] == "full"
    surfaces.clear()
    assert surfaces.actors == {} and surfaces.pipelines == {} and surfaces.last_update[0] == "none"


def test_boxes() -> None:
    mask = np.zeros((5, 6, 7), bool)
    assert mask_box(mask) is None
    mask[1, 2, 3] = mask[3, 4, 5] = True
    low, high = mask_box(mask)
    assert low.tolist() == [1, 2, 3] and high.tolist() == [4, 5, 6]
    a = np.zeros((5, 6, 7), np.uint8)
    b = a.copy()
    assert changed_box(a, b) is None
    b[2, 0, 6] = 4
    low, high = changed_box(a, b)
    assert low.tolist() == [2, 0, 6] and high.tolist() == [3, 1, 7]
