"""Issue 16: edits are never lost by a hurried Enter, a case switch, or a crash (recovery with undo history)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine import recovery
from gui.shell import autosave
from gui.shell.workstation import build_workstation
from tests.gui.prompt_helpers import click_on_next_box, press_on_next_box
from tests.gui.qt_helpers import load
from tests.gui.segment_helpers import RUN_TIMEOUT_MS, case_folder, isolated_store

pytestmark = pytest.mark.gui


@pytest.fixture
def workstations(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Makes shown workstations; at teardown their edits are dropped so closing asks nothing."""
    monkeypatch.setenv(recovery.RECOVERY_ENV, str(tmp_path / "recovery"))
    made = []

    def make(name: str = "first"):
        (tmp_path / name).mkdir(exist_ok=True)
        window = build_workstation(store=isolated_store(tmp_path / name))  # closed below, not by qtbot:
        window.resize(1100, 800)
        window.show()
        qtbot.waitExposed(window)
        made.append(window)
        return window

    yield make
    for window in made:  # qtbot would close them before this teardown, and a failed test leaves edits
        window.autosave.discard()
        window.close()
        window.deleteLater()


@pytest.fixture
def workstation(workstations):
    return workstations()


def _paint(window, voxel) -> None:
    brush = window.edit_controller.set_tool("brush")
    window.edit_controller.update_settings(radius_mm=2.0, value=2)
    brush.press(voxel, 2)
    brush.release()


def _edited_case(qtbot, window, tmp_path: Path) -> np.ndarray:
    load(qtbot, window, case_folder(tmp_path))
    _paint(window, tuple(n // 2 for n in window.model.shape))
    assert window.model.label_source == "edited" and window.autosave.has_unsaved_edits
    return window.model.label.copy()


def test_enter_on_the_quit_prompt_never_loses_an_edit(qtbot, workstation, tmp_path):
    window = workstation
    edited = _edited_case(qtbot, window, tmp_path)
    seen: list = []
    press_on_next_box(Qt.Key.Key_Return, seen)
    window.close()
    text, buttons, default = seen[0]
    assert "Save" in " ".join(buttons) and "Discard Edits" in buttons and "Cancel" in buttons
    assert default == "Cancel"  # nothing exported yet: Save would still ask for a folder
    assert window.isVisible() and np.array_equal(window.model.label, edited)
    assert window.autosave.has_unsaved_edits

    # After one export, Enter saves there and the window closes once the export has finished.
    out = tmp_path / "export"
    with qtbot.waitSignal(window.exports.finished, timeout=RUN_TIMEOUT_MS):
        assert window.exports.export("nifti", out)
    # A second edit inside the head (issue 17: the brush no longer paints the air, where (5, 5, 5) lies).
    _paint(window, tuple(n // 2 + 4 for n in window.model.shape))
    assert window.autosave.has_unsaved_edits
    written = next(out.glob("*.nii.gz"))
    before = written.stat().st_mtime_ns
    seen.clear()
    press_on_next_box(Qt.Key.Key_Return, seen)
    with qtbot.waitSignal(window.exports.finished, timeout=RUN_TIMEOUT_MS):
        window.close()
    assert seen[0][2] == "Save"
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert written.stat().st_mtime_ns != before, "Enter saved the edits again to the last export"


def test_case_switch_with_unsaved_edits_prompts_and_enter_keeps_them(qtbot, workstation, tmp_path):
    window = workstation
    edited = _edited_case(qtbot, window, tmp_path)
    shown = window.model.case.case_id
    other = case_folder(tmp_path / "other")
    seen: list = []
    press_on_next_box(Qt.Key.Key_Return, seen)
    window.open_case(other)
    assert seen and "another case" in seen[0][0]
    qtbot.wait(200)
    assert window.model.case.case_id == shown and np.array_equal(window.model.label, edited)
    # the study dialog path asks too (Escape = Cancel)
    seen.clear()
    press_on_next_box(Qt.Key.Key_Escape, seen)
    assert not window.studies.open_paths([other])
    assert seen and np.array_equal(window.model.label, edited)
    # Discard, chosen on purpose, switches and drops the recovery file
    case_dir = Path(window.model.case.folder)
    window.autosave.autosave()
    assert recovery.find_recovery(shown, case_dir) is not None
    with qtbot.waitSignal(window.case_loaded, timeout=30_000):
        click_on_next_box("Discard Edits")
        window.open_case(other)
    assert window.model.case.folder != case_dir and recovery.find_recovery(shown, case_dir) is None


def test_recovery_restores_undo_history_and_uncertainty_in_one_question(qtbot, workstations, tmp_path):
    window = workstations()
    load(qtbot, window, case_folder(tmp_path))
    shape = window.model.shape
    ai = np.zeros(shape, np.uint8)
    ai[10:20, 10:20, 10:20] = 2
    uncertainty = np.linspace(0, 1, ai.size, dtype=np.float32).reshape(shape)
    window.model.set_segmentation(ai.copy(), uncertainty, "ai")  # the model edits its array in place
    _paint(window, (30, 30, 20))
    _paint(window, (12, 30, 20))
    final = window.model.label.copy()
    qtbot.waitUntil(lambda: recovery.find_recovery(window.model.case.case_id, window.model.case.folder) is not None,
                    timeout=3000)  # written soon after the edit, not after minutes
    record = recovery.find_recovery(window.model.case.case_id, window.model.case.folder)
    assert len(record.undo) == 2 and record.uncertainty is not None
    folder = window.model.case.folder

    # a new session of the application (as after a crash): one question, then everything is back
    second = workstations("second")
    questions: list = []
    press_on_next_box(Qt.Key.Key_Return, questions)
    with qtbot.waitSignal(second.case_loaded, timeout=30_000):
        assert autosave.offer_at_start(second.open_case, parent=second, controller=second.autosave) is not None
    qtbot.waitUntil(lambda: second.model.label_source == "edited", timeout=5000)
    assert len(questions) == 1 and "ended before" in questions[0][0]
    assert "+00:00" not in questions[0][0] and "T" not in questions[0][0].split("autosaved at")[1][:12]
    assert np.array_equal(second.model.label, final)
    assert second.model.uncertainty is not None and np.allclose(second.model.uncertainty, uncertainty, atol=1e-3)
    assert second.edit_controller.undo() and second.edit_controller.undo()
    assert np.array_equal(second.model.label, ai), "two undos lead back to the AI result"
    assert second.edit_controller.redo() and not np.array_equal(second.model.label, ai)
    assert Path(folder).is_dir()
