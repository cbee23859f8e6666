"""A full-size (240 x 240 x 155) case: resident memory with one case loaded and every view drawn (<= 1.5 GB,
measured in a fresh process), and label edits (an editor calls notify_label_edited on every brush dab) reaching
the 3D view. How fast an edit reaches the slice views (bound: median 30 ms) is measured by
scripts/measure_timings.py (docs/benchmarks.md), not asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from vtkmodules.vtkRenderingCore import vtkRenderer

from engine.case import default_demo_case
from gui.viewer.label_surfaces import LabelSurfaces
from tests.gui.qt_helpers import open_window

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT_MIB = 1500
EDITS = 30


def test_memory_for_one_full_size_case_stays_under_1_5_gb() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    completed = subprocess.run([sys.executable, str(ROOT / "scripts" / "measure_gui_memory.py"), "--one-case"], cwd=ROOT,
                               env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    print(f"\nGUI memory, {result['case']} {result['shape']}: resident {result['rss_mib']} MiB, "
          f"peak {result['peak_mib']} MiB (before the case: {result['before_case_mib']:.0f} MiB)")
    assert result["shape"] == [240, 240, 155]
    assert result["surfaces"] == [1, 2, 4]  # the 3D tumour surfaces were built
    assert result["window_lightness"] < 80  # run_gui's application is dark by default
    assert result["rss_mib"] <= MEMORY_LIMIT_MIB and result["peak_mib"] <= MEMORY_LIMIT_MIB


def test_label_edits_on_a_full_size_case_reach_the_3d_surface(qtbot) -> None:
    window = open_window(qtbot, default_demo_case())
    model = window.model
    assert model.shape == (240, 240, 155) and model.label is not None
    centre = tuple(np.argwhere(model.label > 0).mean(axis=0).round().astype(int))
    model.set_cursor(centre)
    for step in range(EDITS):
        i, j, k = centre
        value = 2 if step % 2 == 0 else 0
        model.label[i - 3:i + 3, j - 3:j + 3, k] = value  # one brush dab in the axial slice
        model.notify_label_edited()
    dab = (slice(centre[0] - 3, centre[0] + 3), slice(centre[1] - 3, centre[1] + 3), centre[2])
    view = window.volume_view
    surfaces = view.surfaces
    # The 3D view follows later, with the surfaces of the label map as it is after the last edit.
    with qtbot.waitSignal(view.surfaces_updated, timeout=10_000,
                          check_params_cb=lambda generation: generation == view.label_generation):
        model.label[dab] = 2
        model.notify_label_edited()
    assert surfaces.last_update[0] == "incremental"  # the edit was applied to the surfaces shown, not rebuilt
    reference = LabelSurfaces(vtkRenderer())  # what a full rebuild from the edited label map gives
    reference.update(model.label.copy(), model.overlay_style, model.case.affine[:3, 3], model.spacing)
    assert set(surfaces.actors) == set(reference.actors) == {1, 2, 4}
    for value, actor in surfaces.actors.items():
        shown, rebuilt = (a.GetMapper().GetInput() for a in (actor, reference.actors[value]))
        assert shown.GetNumberOfPoints() == rebuilt.GetNumberOfPoints() > 0
        assert np.allclose(shown.GetBounds(), rebuilt.GetBounds(), atol=1e-3)
