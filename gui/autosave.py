"""Autosave of edited segmentations for crash recovery, restore on open, and the question on close.

Every ``AUTOSAVE_MS`` the controller writes the shown label map to the case's recovery file
(``engine.recovery``) when it is an edited one and changed since the last autosave. The file is removed when the
user saves / exports (``mark_saved``) or discards the edits. When a case is opened and a recovery file of it
exists, ``offer_restore`` asks whether to restore the edits; ``offer_at_start`` lists recovery files of other
cases when the application starts; ``confirm_close`` asks before closing with unsaved edits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

from engine.recovery import (
    Recovery,
    discard_recovery,
    find_recovery,
    label_sha256,
    list_recoveries,
    write_recovery,
)
from gui.viewer_model import ViewerModel

log = logging.getLogger(__name__)

AUTOSAVE_MS = 5000
RESTORE, DISCARD, LATER = "restore", "discard", "later"
SAVE, CLOSE, CANCEL = "save", "close", "cancel"


class AutosaveController(QObject):
    """Writes the recovery file of the shown case while it holds unsaved edits.

    Args:
        model: the viewer model.
        interval_ms: autosave period.
        directory: recovery folder (default ``engine.recovery.recovery_dir()``).
    """

    def __init__(self, model: ViewerModel, interval_ms: int = AUTOSAVE_MS, directory: Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model, self.directory = model, directory
        self.changed_since_autosave = False
        self.unsaved = False
        self._ai_label: np.ndarray | None = None
        self._label_seen: np.ndarray | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.autosave)
        self.timer.start()
        model.case_changed.connect(self._on_case_changed)
        model.label_changed.connect(self._on_label_changed)
        if model.label is not None and model.label_source != "edited":  # installed after a result was shown
            self._ai_label, self._label_seen = model.label.copy(), model.label

    def _on_case_changed(self) -> None:
        self.changed_since_autosave = self.unsaved = False
        self._ai_label = self._label_seen = None

    def _on_label_changed(self) -> None:
        label = self.model.label
        replaced = label is not self._label_seen
        self._label_seen = label
        if self.model.label_source == "edited":
            self.changed_since_autosave = self.unsaved = True
        elif replaced or self.unsaved:  # a new AI / loaded result, or edits undone back to it
            self._ai_label = None if label is None else label.copy()
            self.changed_since_autosave = self.unsaved = False
            self._discard()

    def autosave(self) -> Path | None:
        """Write the recovery file now if the label map holds edits not yet autosaved; returns its path."""
        case, label = self.model.case, self.model.label
        if self.unsaved and self.model.label_source != "edited":  # the edits were undone back to the AI result
            self.mark_saved()
        if case is None or label is None or self.model.label_source != "edited" or not self.changed_since_autosave:
            return None
        path = write_recovery(label, case_id=case.case_id, folder=case.folder, source="edited",
                              ai_label_sha256=label_sha256(self._ai_label), ai_label=self._ai_label,
                              directory=self.directory)
        self.changed_since_autosave = False
        return path

    def mark_saved(self) -> None:
        """The edits were saved or exported: no recovery needed, closing need not ask."""
        self.unsaved = self.changed_since_autosave = False
        self._discard()

    def discard(self) -> None:
        """Drop the edits' recovery file (the user discarded them)."""
        self.mark_saved()

    def _discard(self) -> None:
        case = self.model.case
        if case is not None and discard_recovery(case.case_id, case.folder, self.directory):
            log.info("removed the recovery file of %s", case.case_id)

    @property
    def has_unsaved_edits(self) -> bool:
        return self.unsaved and self.model.label_source == "edited"

    # --- restore and close -------------------------------------------------------------------------------
    def offer_restore(self, ask: Callable[[Recovery], str] | None = None, parent: QWidget | None = None) -> bool:
        """If the shown case has a recovery file, ask and restore it; returns True when restored.

        Args:
            ask: returns RESTORE, DISCARD or LATER for a recovery (default: a message box).
            parent: parent of the message box.
        """
        case = self.model.case
        found = None if case is None else find_recovery(case.case_id, case.folder, self.directory)
        if found is None:
            return False
        if found.label.shape != tuple(self.model.shape):
            log.warning("recovery file %s does not fit the case's grid; ignored", found.path)
            return False
        answer = (ask or (lambda record: _ask_restore(record, parent)))(found)
        if answer == DISCARD:
            discard_recovery(case.case_id, case.folder, self.directory)  # type: ignore[union-attr]
        if answer != RESTORE:
            return False
        self.restore(found)
        return True

    def restore(self, found: Recovery) -> None:
        """Show the recovered edits on top of their AI result (so "reset to AI" still works)."""
        base = found.ai_label if found.ai_label is not None and found.ai_label.shape == found.label.shape else found.label
        self.model.set_segmentation(base.copy(), source="ai")
        np.copyto(self.model.label, found.label)
        self.model.notify_label_edited()
        self.autosave()  # replacing the label above removed the file: write it again at once
        log.info("restored the edits of %s autosaved at %s", found.case_id, found.saved_at)

    def confirm_close(self, ask: Callable[[], str] | None = None, save: Callable[[], bool] | None = None,
                      parent: QWidget | None = None) -> bool:
        """Whether the window may close; asks first when there are unsaved edits.

        Args:
            ask: returns SAVE, CLOSE (discard the edits) or CANCEL (default: a message box).
            save: saves / exports the edits, True on success (offered as "Save" when given).
            parent: parent of the message box.
        """
        if not self.has_unsaved_edits:
            return True
        answer = (ask or (lambda: _ask_close(parent, save is not None)))()
        if answer == SAVE and save is not None:
            if not save():
                return False
            self.mark_saved()
            return True
        if answer == CLOSE:
            self.discard()
            return True
        return False


def pending_recoveries(directory: Path | None = None) -> list[Recovery]:
    """Recovery files left by earlier sessions (newest first) whose case folder still exists."""
    return [record for record in list_recoveries(directory) if Path(record.folder).is_dir()]


def offer_at_start(open_case: Callable[[str], object], ask: Callable[[Recovery], bool] | None = None,
                   parent: QWidget | None = None, directory: Path | None = None) -> Recovery | None:
    """At application start: offer to open the newest case with autosaved edits (restored when it opens).

    Args:
        open_case: opens a case folder (e.g. ``MainWindow.open_case``).
        ask: True to open it (default: a message box).
        parent: parent of the message box.
        directory: recovery folder.
    """
    found = pending_recoveries(directory)
    if not found:
        return None
    record = found[0]
    if (ask or (lambda r: _ask_open(r, parent)))(record):
        open_case(record.folder)
        return record
    return None


def _ask_restore(record: Recovery, parent: QWidget | None) -> str:
    box = QMessageBox(QMessageBox.Icon.Question, "Restore edits",
                      f"Unsaved edits of {record.case_id} were autosaved at {record.saved_at}.\nRestore them?", parent=parent)
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.exec()
    return RESTORE if box.clickedButton() is restore else DISCARD if box.clickedButton() is discard else LATER


def _ask_open(record: Recovery, parent: QWidget | None) -> bool:
    answer = QMessageBox.question(parent, "Recover edits",
                                  f"RevSeg closed with unsaved edits of {record.case_id} ({record.folder}).\n"
                                  "Open that case to restore them?")
    return answer == QMessageBox.StandardButton.Yes


def _ask_close(parent: QWidget | None, can_save: bool) -> str:
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved edits",
                      "The segmentation has edits that were not saved or exported.", parent=parent)
    save = box.addButton("Save...", QMessageBox.ButtonRole.AcceptRole) if can_save else None
    close = box.addButton("Discard and close", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    clicked = box.clickedButton()
    return SAVE if save is not None and clicked is save else CLOSE if clicked is close else CANCEL


def install(window: QMainWindow, interval_ms: int = AUTOSAVE_MS, offer_on_open: bool = True,
            ask_restore: Callable[[Recovery], str] | None = None) -> AutosaveController:
    """Start autosaving ``window.model``; with ``offer_on_open`` every opened case is checked for a recovery.

    The window's closeEvent should call ``controller.confirm_close(save=...)`` and ignore the event on False.

    Args:
        window: the main window (``window.model``).
        interval_ms: autosave period.
        offer_on_open: ask to restore when an opened case has a recovery file.
        ask_restore: the question (default: a message box), see ``AutosaveController.offer_restore``.
    """
    controller = AutosaveController(window.model, interval_ms, parent=window)  # type: ignore[attr-defined]
    if offer_on_open:
        # Queued: the question comes after the case is shown and the other views have caught up.
        window.model.case_changed.connect(  # type: ignore[attr-defined]
            lambda: QTimer.singleShot(0, lambda: controller.offer_restore(ask_restore, parent=window)))
    return controller
