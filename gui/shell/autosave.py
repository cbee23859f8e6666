"""Autosave of edited segmentations for crash recovery, restore on open, and the question on close.

``SOON_MS`` after an edit (and every ``AUTOSAVE_MS`` while edits go on) the controller writes the shown label
map, its uncertainty map and the edit session's undo / redo steps to the case's recovery file
(``engine.recovery``) when it is an edited one and changed since the last autosave. The file is removed when the
user saves / exports (``mark_saved``) or discards the edits. When a case is opened and a recovery file of it
exists, ``offer_restore`` asks whether to restore the edits; ``offer_at_start`` lists recovery files of other
cases when the application starts (one question: the case then opens with its edits restored);
``confirm_close`` asks Save / Discard / Cancel before closing or switching cases with unsaved edits. Enter
never discards: the default button is Save when the edits can be saved without another question, else
Cancel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

from engine.editing.history import EditHistory
from engine.recovery import (
    Recovery,
    discard_recovery,
    find_recovery,
    label_sha256,
    list_recoveries,
    write_recovery,
)
from gui.viewer.viewer_model import ViewerModel

log = logging.getLogger(__name__)

AUTOSAVE_MS = 5000
SOON_MS = 700  # after an edit: soon, but a drag of many dabs is written once, not per mouse move
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
                 parent: QObject | None = None, history: Callable[[], EditHistory | None] | None = None,
                 restore_steps: Callable[[list, list], None] | None = None) -> None:
        super().__init__(parent)
        self.model, self.directory = model, directory
        self.history = history or (lambda: None)
        self.restore_steps = restore_steps
        self.auto_restore: Path | None = None  # a recovery the user already chose to restore (no second question)
        self.changed_since_autosave = False
        self.unsaved = False
        self._ai_label: np.ndarray | None = None
        self._label_seen: np.ndarray | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.autosave)
        self.timer.start()
        self.soon = QTimer(self)
        self.soon.setSingleShot(True)
        self.soon.setInterval(min(SOON_MS, interval_ms))
        self.soon.timeout.connect(self.autosave)
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
            if not self.soon.isActive():  # not restarted per edit: a long drag is still saved within SOON_MS
                self.soon.start()
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
        history = self.history()
        steps = history.steps() if history is not None and history.label is label else None
        path = write_recovery(label, case_id=case.case_id, folder=case.folder, source="edited",
                              ai_label_sha256=label_sha256(self._ai_label), ai_label=self._ai_label,
                              uncertainty=self.model.uncertainty, steps=steps, directory=self.directory)
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
        chosen, self.auto_restore = self.auto_restore, None
        if chosen is not None and chosen == found.path:  # answered at start: restore without asking again
            answer = RESTORE
        else:
            answer = (ask or (lambda record: _ask_restore(record, parent)))(found)
        if answer == DISCARD:
            discard_recovery(case.case_id, case.folder, self.directory)  # type: ignore[union-attr]
        if answer != RESTORE:
            return False
        self.restore(found)
        return True

    def restore(self, found: Recovery) -> None:
        """Show the recovered edits on top of their AI result (so "reset to AI" still works), with their
        uncertainty map and undo / redo steps."""
        base = found.ai_label if found.ai_label is not None and found.ai_label.shape == found.label.shape else found.label
        uncertainty = found.uncertainty if found.uncertainty is not None and found.uncertainty.shape == base.shape else None
        self.model.set_segmentation(base.copy(), uncertainty, source="ai")
        np.copyto(self.model.label, found.label)
        self.model.notify_label_edited()
        if self.restore_steps is not None and (found.undo or found.redo):
            try:
                self.restore_steps(list(found.undo), list(found.redo))
            except ValueError as error:
                log.warning("undo history of %s not restored: %s", found.case_id, error)
        self.autosave()  # replacing the label above removed the file: write it again at once
        log.info("restored the edits of %s autosaved at %s", found.case_id, found.saved_at)

    def confirm_close(self, ask: Callable[[], str] | None = None, save: Callable[[], bool] | None = None,
                      parent: QWidget | None = None, action: str = "close", save_target: str = "") -> bool:
        """Whether the window may close (or another case open); asks first when there are unsaved edits.

        Args:
            ask: returns SAVE, CLOSE (discard the edits) or CANCEL (default: a message box).
            save: saves / exports the edits, True when they are saved now (False: failed, or still running;
                the caller tries again when the save has finished).
            parent: parent of the message box.
            action: what waits for the answer: "close" or "switch" (open another case).
            save_target: where Save writes without asking ("" when it must ask for a folder first).
        """
        if not self.has_unsaved_edits:
            return True
        answer = (ask or (lambda: ask_unsaved(parent, action, save_target)))()
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
                   parent: QWidget | None = None, directory: Path | None = None,
                   controller: AutosaveController | None = None) -> Recovery | None:
    """At application start: offer to open the newest case with autosaved edits (restored when it opens).

    Args:
        open_case: opens a case folder (e.g. ``MainWindow.open_case``).
        ask: True to open it (default: a message box).
        parent: parent of the message box.
        directory: recovery folder.
        controller: the window's autosave; when given, the case restores its edits without a second question.
    """
    found = pending_recoveries(directory)
    if not found:
        return None
    record = found[0]
    if (ask or (lambda r: _ask_open(r, parent)))(record):
        if controller is not None:
            controller.auto_restore = record.path
        open_case(record.folder)
        return record
    return None


def _ask_restore(record: Recovery, parent: QWidget | None) -> str:
    box = QMessageBox(QMessageBox.Icon.Question, "Restore edits",
                      f"Unsaved edits of {record.case_id} were autosaved at {record.saved_at_local}.\n"
                      "Restore them?", parent=parent)
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    later = box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore)
    box.setEscapeButton(later)
    box.exec()
    return RESTORE if box.clickedButton() is restore else DISCARD if box.clickedButton() is discard else LATER


def _ask_open(record: Recovery, parent: QWidget | None) -> bool:
    box = QMessageBox(QMessageBox.Icon.Question, "Restore edits",
                      f"RevSeg ended before the edits of {record.case_id} were saved.\n"
                      f"They were autosaved at {record.saved_at_local} ({record.folder}).\n"
                      "Open that case with the edits restored (undo history included)?", parent=parent)
    restore = box.addButton("Open and Restore", QMessageBox.ButtonRole.AcceptRole)
    later = box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore)
    box.setEscapeButton(later)
    box.exec()
    return box.clickedButton() is restore


UNSAVED_TEXT = {"close": "Save the edited segmentation before closing RevSeg?",
                "switch": "Save the edited segmentation before opening another case?"}


def unsaved_box(parent: QWidget | None, action: str = "close", save_target: str = "") -> QMessageBox:
    """The Save / Discard / Cancel question; Save is the default only when it needs no further question."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved edits", UNSAVED_TEXT.get(action, UNSAVED_TEXT["close"]),
                      parent=parent)
    box.setInformativeText("The edits are autosaved for recovery, but not yet saved as a segmentation file."
                           + (f"\nSave writes to {save_target}." if save_target else ""))
    save = box.addButton("Save..." if not save_target else "Save", QMessageBox.ButtonRole.AcceptRole)
    save.setObjectName(SAVE)
    discard = box.addButton("Discard Edits", QMessageBox.ButtonRole.DestructiveRole)
    discard.setObjectName(CLOSE)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    cancel.setObjectName(CANCEL)
    discard.setAutoDefault(False)  # Enter on a focused Discard would otherwise discard
    box.setDefaultButton(save if save_target else cancel)
    box.setEscapeButton(cancel)
    return box


def ask_unsaved(parent: QWidget | None, action: str = "close", save_target: str = "") -> str:
    """SAVE, CLOSE (discard) or CANCEL from ``unsaved_box``."""
    box = unsaved_box(parent, action, save_target)
    box.exec()
    clicked = box.clickedButton()
    return clicked.objectName() if clicked is not None and clicked.objectName() in (SAVE, CLOSE) else CANCEL


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
    edit_controller = getattr(window, "edit_controller", None)
    controller = AutosaveController(
        window.model, interval_ms, parent=window,  # type: ignore[attr-defined]
        history=lambda: getattr(getattr(edit_controller, "session", None), "history", None),
        restore_steps=getattr(edit_controller, "restore_steps", None))
    if offer_on_open:
        # Queued: the question comes after the case is shown and the other views have caught up.
        window.model.case_changed.connect(  # type: ignore[attr-defined]
            lambda: QTimer.singleShot(0, lambda: controller.offer_restore(ask_restore, parent=window)))
    return controller
