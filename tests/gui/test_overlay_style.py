"""Overlay painting, outlines, regions, uncertainty slices and window presets (numpy only, no display)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.case import MODALITIES
from gui.viewer.overlay_style import (
    DEFAULT_REGION_COLORS,
    UNCERTAINTY_RGB,
    OverlayPainter,
    OverlayStyle,
    boundary,
    next_uncertain_slice,
    paint_uncertainty,
    uncertain_voxels_per_slice,
)
from gui.viewer.viewer_model import ViewerModel, WindowLevel, window_presets


def nested_labels() -> np.ndarray:
    """A 20 x 20 slice: oedema square, core square inside, enhancing square inside that."""
    labels = np.zeros((20, 20), dtype=np.uint8)
    labels[2:18, 2:18] = 2
    labels[5:15, 5:15] = 1
    labels[8:12, 8:12] = 4
    return labels


def test_labels_mode_paints_each_label_in_its_colour_and_hides_hidden_ones() -> None:
    style = OverlayStyle()
    painter = OverlayPainter(style)
    rgba = painter.paint(nested_labels())
    assert tuple(rgba[3, 3]) == (*style.label_colors[2], 255)
    assert tuple(rgba[6, 6]) == (*style.label_colors[1], 255)
    assert tuple(rgba[10, 10]) == (*style.label_colors[4], 255)
    assert rgba[0, 0, 3] == 0  # background transparent
    painter.set_style(style.replace(hidden_labels={2}))
    rgba = painter.paint(nested_labels())
    assert rgba[3, 3, 3] == 0 and rgba[6, 6, 3] == 255


def test_custom_label_colour_is_used() -> None:
    style = OverlayStyle().replace(label_colors={1: (1, 2, 3), 2: (4, 5, 6), 4: (7, 8, 9)})
    assert tuple(OverlayPainter(style).paint(nested_labels())[10, 10]) == (7, 8, 9, 255)


def test_nothing_to_paint_gives_none() -> None:
    assert OverlayPainter().paint(np.zeros((5, 5), np.uint8)) is None
    assert OverlayPainter(OverlayStyle(hidden_labels=frozenset({1, 2, 4}))).paint(nested_labels()) is None


def test_regions_nest_inner_region_wins() -> None:
    painter = OverlayPainter(OverlayStyle().replace(regions={"WT", "TC", "ET"}))
    rgba = painter.paint(nested_labels())
    assert tuple(rgba[3, 3, :3]) == DEFAULT_REGION_COLORS["WT"]
    assert tuple(rgba[6, 6, :3]) == DEFAULT_REGION_COLORS["TC"]
    assert tuple(rgba[10, 10, :3]) == DEFAULT_REGION_COLORS["ET"]
    only_wt = OverlayPainter(OverlayStyle().replace(regions={"WT"})).paint(nested_labels())
    assert {tuple(p) for p in only_wt[2:18, 2:18, :3].reshape(-1, 3)} == {DEFAULT_REGION_COLORS["WT"]}
    with pytest.raises(ValueError, match="unknown region"):
        OverlayStyle().replace(regions={"XX"})


def test_outline_keeps_only_the_boundaries() -> None:
    square = np.zeros((12, 12), dtype=np.uint8)
    square[2:10, 2:10] = 2
    edge = boundary(square)
    assert edge.sum() == 8 * 4 - 4  # the ring of an 8 x 8 square
    assert not edge[3:9, 3:9].any()
    rgba = OverlayPainter(OverlayStyle(outline=True)).paint(nested_labels())
    assert rgba[3, 3, 3] == 0  # oedema interior transparent
    assert rgba[2, 2, 3] == 255 and rgba[5, 5, 3] == 255  # oedema's outer edge, core's edge


def test_uncertainty_is_transparent_below_the_floor_and_magenta_above() -> None:
    assert paint_uncertainty(np.full((4, 4), 0.01, np.float32)) is None
    values = np.zeros((4, 4), np.float32)
    values[1, 1] = 0.9
    rgba = paint_uncertainty(values)
    assert tuple(rgba[1, 1, :3]) == UNCERTAINTY_RGB and rgba[1, 1, 3] > 200
    assert rgba[0, 0, 3] == 0


def test_next_uncertain_slice_steps_through_runs_and_wraps() -> None:
    uncertainty = np.zeros((10, 10, 30), np.float32)
    uncertainty[2:5, 2:5, 4:7] = 0.8  # run 4..6, all equal: the first slice of the run is its peak
    uncertainty[2:6, 2:6, 20] = 0.9  # run at 20
    uncertainty[0, 0, 12] = 0.9  # one voxel: not enough for a slice
    counts = uncertain_voxels_per_slice(uncertainty, 2)
    assert counts[4] == 9 and counts[20] == 16 and counts[12] == 1
    assert next_uncertain_slice(counts, 0) == 4
    assert next_uncertain_slice(counts, 4) == 20
    assert next_uncertain_slice(counts, 20) == 4  # wraps around
    assert next_uncertain_slice(np.zeros(30, int), 3) is None
    with pytest.raises(ValueError):
        uncertain_voxels_per_slice(uncertainty, 3)


def test_window_presets_per_modality() -> None:
    default = WindowLevel(200.0, 100.0)
    names = {modality: list(window_presets(modality, default)) for modality in MODALITIES}
    assert all(len(found) == 4 and found[:3] == ["Default", "Narrow", "Wide"] for found in names.values())
    assert len({found[3] for found in names.values()}) == 4  # one contrast-specific preset each
    presets = window_presets("t1ce", default)
    assert presets["Default"] == default
    assert presets["Narrow"].window < default.window < presets["Wide"].window
    assert presets["Enhancement"].level > default.level  # enhancement is bright on T1ce


def test_model_overlay_style_emits_once_per_change() -> None:
    model = ViewerModel()
    events: list[int] = []
    model.overlay_changed.connect(lambda: events.append(1))
    model.set_overlay_style(outline=True)
    model.set_overlay_style(outline=True)
    assert model.overlay_style.outline and len(events) == 1
    model.set_overlay_style(hidden_labels=[2])
    assert model.overlay_style.hidden_labels == frozenset({2}) and len(events) == 2
