"""The Qt-free parts of the viewer: the viewer model and the screen layout of the slice planes (no display)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.case import Case, Volume, load_case_folder
from engine.labels import LABEL_INFO
from gui.viewer.orientation import (
    AXIAL,
    CORONAL,
    PLANES,
    SAGITTAL,
    display_shape,
    display_slice,
    display_to_voxel,
    voxel_to_display,
)
from gui.viewer.viewer_model import Event, ViewerModel, WindowLevel, default_window_level, label_colors_rgba
from tests.gui.conftest import MARKER, SYNTHETIC_SHAPE, SYNTHETIC_SPACING, write_synthetic_case

SHAPE = (6, 5, 4)


def make_case(shape: tuple[int, int, int] = SHAPE, modalities: tuple[str, ...] = ("t1", "t1ce"),
              with_label: bool = True) -> Case:
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = (10.0, 20.0, 30.0)
    volumes = {
        m: Volume(m, (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 1) * (n + 1), affine, Path(m))
        for n, m in enumerate(modalities)
    }
    label = np.zeros(shape, dtype=np.uint8) if with_label else None
    if label is not None:
        label[1, 2, 3] = 4
    return Case("C1", Path("."), volumes, label, affine)


class Recorder:
    def __init__(self, model: ViewerModel) -> None:
        self.calls: list[tuple[str, tuple]] = []
        for name in ("case_changed", "cursor_changed", "modality_changed", "window_level_changed",
                     "overlay_changed"):
            getattr(model, name).connect(lambda *args, n=name: self.calls.append((n, args)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


# --- events -------------------------------------------------------------------------------------------
def test_event_calls_each_callback_once_and_stops_after_disconnect() -> None:
    event, seen = Event("e"), []
    callback = seen.append
    event.connect(callback)
    event.connect(callback)
    event.emit(1)
    event.disconnect(callback)
    event.emit(2)
    assert seen == [1]
    assert len(event) == 0


# --- model --------------------------------------------------------------------------------------------
def test_set_case_centres_cursor_picks_t1ce_and_default_windows() -> None:
    model = ViewerModel()
    recorder = Recorder(model)
    model.set_case(make_case())
    assert model.cursor == (3, 2, 2)
    assert model.active_modality == "t1ce"
    assert set(model.window_levels) == {"t1", "t1ce"}
    assert model.modalities == ["t1", "t1ce"]
    assert recorder.names() == ["case_changed"]


def test_set_case_keeps_the_active_contrast_when_the_new_case_has_it() -> None:
    model = ViewerModel()
    model.set_case(make_case())
    model.set_active_modality("t1")
    model.set_case(make_case(modalities=("t1", "t2")))
    assert model.active_modality == "t1"
    model.set_case(make_case(modalities=("t2", "flair")))
    assert model.active_modality == "t2"


def test_cursor_is_clamped_and_only_real_moves_emit() -> None:
    model = ViewerModel()
    model.set_case(make_case())
    recorder = Recorder(model)
    model.set_cursor((100, -5, 2))
    assert model.cursor == (5, 0, 2)
    model.set_cursor((5, 0, 2))
    assert recorder.calls == [("cursor_changed", ((3, 2, 2),))]


def test_move_slice_steps_along_one_axis_and_rejects_bad_axis() -> None:
    model = ViewerModel()
    model.set_case(make_case())
    model.move_slice(2, 1)
    model.move_slice(0, -2)
    assert model.cursor == (1, 2, 3)
    model.move_slice(2, 10)
    assert model.cursor == (1, 2, 3)
    with pytest.raises(ValueError, match="axis"):
        model.move_slice(3, 1)


def test_cursor_world_follows_the_affine_and_round_trips() -> None:
    model = ViewerModel()
    model.set_case(make_case())
    model.set_cursor((1, 2, 3))
    np.testing.assert_allclose(model.cursor_world, (12.0, 26.0, 42.0))
    model.set_cursor_world((20.9, 23.0, 30.0))
    assert model.cursor == (5, 1, 0)


def test_values_under_the_cursor() -> None:
    model = ViewerModel()
    case = make_case()
    model.set_case(case)
    model.set_cursor((1, 2, 3))
    assert model.value_at_cursor() == case.volumes["t1ce"].data[1, 2, 3]
    assert model.value_at_cursor("t1") == case.volumes["t1"].data[1, 2, 3]
    assert model.label_at_cursor() == 4
    model.set_case(make_case(with_label=False))
    assert model.label_at_cursor() is None


def test_unknown_modality_is_refused() -> None:
    model = ViewerModel()
    model.set_case(make_case())
    with pytest.raises(ValueError, match="flair"):
        model.set_active_modality("flair")


def test_window_level_is_per_contrast_positive_and_resettable() -> None:
    model = ViewerModel()
    model.set_case(make_case())
    recorder = Recorder(model)
    default = model.window_level
    model.set_window_level(-5.0, 40.0)
    assert model.window_levels["t1ce"].window > 0
    assert model.window_levels["t1ce"].level == 40.0
    assert model.window_levels["t1"] == model.default_window_levels["t1"]
    model.reset_window_level()
    assert model.window_level == default
    assert recorder.names() == ["window_level_changed", "window_level_changed"]
    assert recorder.calls[0][1] == ("t1ce",)


def test_default_window_spans_the_brain_percentiles_and_ignores_background() -> None:
    data = np.zeros((40, 40, 40), dtype=np.float32)
    data[10:30, 10:30, 10:30] = np.linspace(100, 300, 20)[None, None, :]
    window_level = default_window_level(data)
    assert 99 < window_level.low < 105
    assert 295 < window_level.high < 301
    flat = default_window_level(np.full((4, 4, 4), 7.0, dtype=np.float32))
    assert flat.window > 0 and flat.level == pytest.approx(7.0)


def test_overlay_settings_are_clamped_and_emit_on_change_only() -> None:
    model = ViewerModel()
    recorder = Recorder(model)
    model.set_overlay(opacity=3.0)
    model.set_overlay(opacity=1.0, visible=True)
    model.set_overlay(visible=False)
    assert (model.overlay_opacity, model.overlay_visible) == (1.0, False)
    assert recorder.names() == ["overlay_changed", "overlay_changed"]


def test_label_colours_follow_the_brats_table_and_hide_background() -> None:
    table = label_colors_rgba()
    assert table.shape == (256, 4) and table.dtype == np.uint8
    assert table[0, 3] == 0
    for value, info in LABEL_INFO.items():
        assert tuple(table[value, :3]) == info.rgb and table[value, 3] == 255


def test_window_level_bounds() -> None:
    assert (WindowLevel(100.0, 50.0).low, WindowLevel(100.0, 50.0).high) == (0.0, 100.0)


# --- orientation ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("plane", PLANES, ids=lambda p: p.name)
def test_display_slice_and_pixel_mapping_agree(plane) -> None:
    shape = (5, 4, 3)
    volume = np.arange(np.prod(shape)).reshape(shape)
    index = 1
    image = display_slice(volume, plane, index)
    assert image.shape[::-1] == display_shape(shape, plane)
    assert image.flags["C_CONTIGUOUS"]
    for voxel in np.ndindex(shape):
        if voxel[plane.normal_axis] != index:
            continue
        column, row = voxel_to_display(voxel, shape, plane)
        assert image[row, column] == volume[voxel]
        assert display_to_voxel(column, row, index, shape, plane) == voxel


def test_screen_directions_are_radiological() -> None:
    """Right (+i) is on the screen's left in axial/coronal, anterior (+j) up in axial and left in sagittal."""
    shape = (10, 10, 10)
    centre = (5, 5, 5)

    def column_row(plane, voxel):
        return voxel_to_display(voxel, shape, plane)

    assert column_row(AXIAL, (9, 5, 5))[0] < column_row(AXIAL, centre)[0]      # patient right -> screen left
    assert column_row(AXIAL, (5, 9, 5))[1] > column_row(AXIAL, centre)[1]      # anterior -> up
    assert column_row(CORONAL, (9, 5, 5))[0] < column_row(CORONAL, centre)[0]  # right -> left
    assert column_row(CORONAL, (5, 5, 9))[1] > column_row(CORONAL, centre)[1]  # superior -> up
    assert column_row(SAGITTAL, (5, 9, 5))[0] < column_row(SAGITTAL, centre)[0]  # anterior -> left
    assert column_row(SAGITTAL, (5, 5, 9))[1] > column_row(SAGITTAL, centre)[1]  # superior -> up
    assert AXIAL.edge_labels == ("R", "L", "A", "P")
    assert CORONAL.edge_labels == ("R", "L", "S", "I")
    assert SAGITTAL.edge_labels == ("A", "P", "S", "I")


def test_display_to_voxel_clamps_clicks_outside_the_image() -> None:
    assert display_to_voxel(-3, 99, 1, (5, 4, 3), AXIAL) == (4, 3, 1)


def test_synthetic_marker_lands_right_anterior_superior_after_loading(tmp_path: Path) -> None:
    """The test data itself: stored LPS or RAS, the marker loads into the same RAS voxels."""
    for stored in ("LPS", "RAS"):
        case = load_case_folder(write_synthetic_case(tmp_path / stored, stored=stored))
        assert case.shape == SYNTHETIC_SHAPE
        np.testing.assert_allclose(case.spacing, SYNTHETIC_SPACING)
        assert case.volumes["t1"].data[MARKER].min() == case.volumes["t1"].data.max()


def test_set_segmentation_replaces_the_label_and_notify_marks_it_edited() -> None:
    model = ViewerModel()
    model.set_case(make_case())
    calls: list[int] = []
    model.label_changed.connect(lambda: calls.append(1))
    label = np.zeros(SHAPE, np.int64)
    label[1, 2, 3] = 4
    uncertainty = np.full(SHAPE, 0.25)
    model.set_segmentation(label, uncertainty)
    assert model.label is not None and model.label.dtype == np.uint8 and model.label[1, 2, 3] == 4
    assert model.uncertainty is not None and model.uncertainty.dtype == np.float32
    assert (model.label_source, len(calls)) == ("ai", 1)
    model.label[0, 0, 0] = 2
    model.notify_label_edited()
    assert (model.label_source, len(calls)) == ("edited", 2)
    with pytest.raises(ValueError, match="shape"):
        model.set_segmentation(np.zeros((2, 2, 2), np.uint8))
    model.set_segmentation(None)
    assert model.label is None and model.uncertainty is None


def test_measurement_lines_emit_only_when_they_change() -> None:
    model = ViewerModel()
    model.set_case(make_case())
    calls: list[int] = []
    model.measurement_lines_changed.connect(lambda: calls.append(1))
    line = ((1, 2, 3), (4, 5, 3))
    model.set_measurement_lines([line])
    model.set_measurement_lines([line])
    assert model.measurement_lines == [line] and len(calls) == 1
    model.set_measurement_lines([])
    assert model.measurement_lines == [] and len(calls) == 2
