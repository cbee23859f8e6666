"""The assembled workstation: every module installed together, one case from Segment through edit to export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QAction

from tests.gui.qt_helpers import load
from tests.gui.segment_helpers import (
    RUN_TIMEOUT_MS,
    case_folder,
    tiny_weights,
    use_weights,
)

pytestmark = pytest.mark.gui


def test_every_module_is_installed_and_no_shortcut_is_used_twice(workstation) -> None:
    window = workstation
    for name in ("File", "View", "Segmentation", "Tools", "Help"):
        assert name in window.menus
    shortcuts = [a.shortcut().toString() for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    duplicates = {s for s in shortcuts if shortcuts.count(s) > 1}
    assert not duplicates, f"shortcuts used twice: {duplicates}"
    assert "Ctrl+O" in shortcuts and window.open_action.shortcut().isEmpty()  # Ctrl+O opens a study


def test_segment_edit_export_and_close(qtbot, workstation, tmp_path: Path) -> None:
    window = workstation
    load(qtbot, window, case_folder(tmp_path))
    use_weights(window.segment_settings, tiny_weights(tmp_path))
    window.segmentation.predictor_options = {"tile": 32, "overlap": 0.25}
    with qtbot.waitSignal(window.segmentation.finished, timeout=RUN_TIMEOUT_MS):
        assert window.segmentation.segment()
    assert window.model.label is not None and window.model.label_source == "ai"
    before = window.model.label.copy()

    edit = window.edit_controller
    centre = tuple(n // 2 for n in window.model.shape)
    edit.update_settings(radius_mm=3.0, value=1 if before[centre] != 1 else 2)  # a value the AI did not give
    brush = edit.set_tool("brush")
    brush.press(centre, 2)
    brush.release()
    assert window.model.label_source == "edited" and not np.array_equal(window.model.label, before)
    assert window.measure_panel is not None

    out = tmp_path / "export"
    with qtbot.waitSignal(window.exports.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.exports.export("nifti", out)
    sidecar = json.loads(next(out.glob("*.json")).read_text())
    assert "editing" in json.dumps(sidecar), "the sidecar records AI vs edited volumes"
    assert blocker.args[0] is not None
    window.close()  # exported edits are saved: closing asks nothing
    assert not window.isVisible()
