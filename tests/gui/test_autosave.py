"""Autosave: recovery file while edits are unsaved, restore after a SIGKILL, the question on close."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import recovery
from gui.editing.edit_controller import EditController
from gui.shell import autosave
from gui.shell.autosave import CANCEL, CLOSE, DISCARD, LATER, RESTORE, SAVE, AutosaveController
from tests.gui.edit_helpers import BareWindow, make_model

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def recovery_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "recovery"
    monkeypatch.setenv(recovery.RECOVERY_ENV, str(folder))
    return folder


def _paint(controller: EditController, voxel=(5, 5, 4)) -> None:
    tool = controller.set_tool("brush")
    tool.press(voxel, 2, None)
    tool.release()


def test_autosaves_only_edited_changes_and_removes_the_file_when_saved(qtbot, tmp_path):
    model = make_model(tmp_path / "case")
    saver = AutosaveController(model, interval_ms=60_000)
    editor = EditController(model)
    assert saver.autosave() is None  # the AI result needs no recovery
    _paint(editor)
    path = saver.autosave()
    assert path is not None and path.is_file() and saver.has_unsaved_edits
    assert saver.autosave() is None  # nothing changed since
    found = recovery.find_recovery("EDIT-001", tmp_path / "case")
    assert np.array_equal(found.label, model.label) and found.ai_label_sha256
    assert not np.array_equal(found.ai_label, model.label)
    saver.mark_saved()
    assert not path.exists() and not saver.has_unsaved_edits


def test_timer_autosaves_and_undo_back_to_ai_removes_the_file(qtbot, tmp_path):
    model = make_model(tmp_path / "case")
    saver = AutosaveController(model, interval_ms=50)
    editor = EditController(model)
    _paint(editor)
    path = recovery.recovery_path("EDIT-001", tmp_path / "case")
    qtbot.waitUntil(path.is_file, timeout=3000)
    editor.undo()
    qtbot.waitUntil(lambda: not path.exists(), timeout=3000)
    assert not saver.has_unsaved_edits


def test_killed_process_edits_are_restored_at_the_next_start(qtbot, tmp_path, recovery_folder):
    folder = tmp_path / "case"
    expected_path = tmp_path / "expected.npy"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-m", "tests.gui.autosave_child", str(folder), str(expected_path)],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "autosaved"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    expected = np.load(expected_path)
    model = make_model(folder)  # the next start: same case, the AI result again
    ai = model.label.copy()
    assert not np.array_equal(ai, expected)
    window = BareWindow(model)
    qtbot.addWidget(window)
    opened = []
    assert autosave.offer_at_start(opened.append, ask=lambda record: record.case_id == "EDIT-001")
    assert opened == [str(folder.resolve())]
    saver = autosave.install(window, offer_on_open=False)
    editor = EditController(model)
    asked = []
    assert saver.offer_restore(ask=lambda record: asked.append(record.saved_at) or RESTORE)
    assert asked and np.array_equal(model.label, expected) and model.label_source == "edited"
    assert saver.has_unsaved_edits and recovery.find_recovery("EDIT-001", folder) is not None
    editor.reset_to_ai()  # the AI result came back with the recovery
    assert np.array_equal(model.label, ai)


def test_restore_can_be_declined_or_discarded(qtbot, tmp_path):
    folder = tmp_path / "case"
    model = make_model(folder)
    edited = model.label.copy()
    edited[:3] = 2
    recovery.write_recovery(edited, case_id="EDIT-001", folder=folder)
    saver = AutosaveController(model)
    before = model.label.copy()
    assert not saver.offer_restore(ask=lambda record: LATER)
    assert np.array_equal(model.label, before) and recovery.find_recovery("EDIT-001", folder) is not None
    assert not saver.offer_restore(ask=lambda record: DISCARD)
    assert recovery.find_recovery("EDIT-001", folder) is None
    assert not saver.offer_restore(ask=lambda record: RESTORE)  # nothing left


def test_close_with_unsaved_edits_asks(qtbot, tmp_path):
    model = make_model(tmp_path / "case")
    saver = AutosaveController(model)
    editor = EditController(model)
    assert saver.confirm_close(ask=lambda: pytest.fail("no edits: no question"))
    _paint(editor)
    saver.autosave()
    assert not saver.confirm_close(ask=lambda: CANCEL)
    assert not saver.confirm_close(ask=lambda: SAVE, save=lambda: False)  # a failed save keeps the window
    assert saver.confirm_close(ask=lambda: SAVE, save=lambda: True)
    assert recovery.find_recovery("EDIT-001", tmp_path / "case") is None
    _paint(editor, (20, 20, 2))
    saver.autosave()
    assert saver.confirm_close(ask=lambda: CLOSE)
    assert recovery.find_recovery("EDIT-001", tmp_path / "case") is None


def test_install_offers_restore_when_a_case_opens(qtbot, tmp_path):
    from tests.gui.edit_helpers import make_case

    folder = tmp_path / "case"
    model = make_model(folder, ai=False, with_label=False)
    window = BareWindow(model)
    qtbot.addWidget(window)
    edited = np.zeros(model.shape, np.uint8)
    edited[10:14, 10:14, 5:8] = 4
    recovery.write_recovery(edited, case_id="EDIT-001", folder=folder)
    asked = []
    autosave.install(window, ask_restore=lambda record: asked.append(record) or RESTORE)
    model.set_case(make_case(folder, with_label=False))  # the user opens the case again
    qtbot.waitUntil(lambda: bool(asked), timeout=3000)
    assert np.array_equal(model.label, edited) and model.label_source == "edited"
