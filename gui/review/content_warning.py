"""After a case opens: is it a brain MRI? ``engine.content_check`` runs in a worker; findings are shown in a
warning, and Segment refuses a case whose findings make segmentation meaningless unless the user proceeds.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow, QMessageBox

from engine.content_check import ContentFinding, check_case
from gui.background import BackgroundJob
from gui.review.segment_controller import case_key

log = logging.getLogger(__name__)


class ContentCheckController(QObject):
    """Checks every opened case's content.

    Signals:
        checked(list): the findings (``ContentFinding``) of the shown case; empty when it looks like a brain MRI.
    """

    checked = Signal(list)

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.findings: list[ContentFinding] = []
        self.proceed_anyway = False
        self.message_box: QMessageBox | None = None
        self.job = BackgroundJob(self)
        self.job.finished.connect(self._on_checked)
        self.job.failed.connect(lambda error, details: log.error("content check failed: %s\n%s", error, details))
        window.model.case_changed.connect(self._on_case_changed)  # type: ignore[attr-defined]

    @property
    def blocking(self) -> list[ContentFinding]:
        return [f for f in self.findings if f.blocking]

    @property
    def blocks_segment(self) -> bool:
        return bool(self.blocking) and not self.proceed_anyway

    def _on_case_changed(self) -> None:
        self.findings, self.proceed_anyway = [], False
        case = self.window.model.case  # type: ignore[attr-defined]  # not kept: a segmentation replaces it
        if case is None:
            return
        if self.job.busy:
            self.job.cancel()
            self.job.wait()
        self.job.start(lambda progress, cancel: (case, check_case(case)))

    def _on_checked(self, result: tuple) -> None:
        case, findings = result
        shown = self.window.model.case  # type: ignore[attr-defined]
        if shown is None or case_key(case) != case_key(shown):  # another case opened meanwhile
            return
        self.findings = findings
        if findings:
            blocking = any(f.blocking for f in findings)
            self.message_box = QMessageBox(
                QMessageBox.Icon.Warning, "Is this a brain MRI?", summary(findings, blocking),
                QMessageBox.StandardButton.Ok, self.window)
            self.message_box.open()
            self.window.statusBar().showMessage(  # type: ignore[attr-defined]
                "Warning: " + findings[0].message, 15_000)
        self.checked.emit(findings)

    def confirm_segment(self, start: object) -> bool:
        """Whether Segment may start now; otherwise asks, and ``start()`` runs if the user proceeds anyway."""
        if not self.blocks_segment:
            return True
        box = QMessageBox(QMessageBox.Icon.Warning, "Segment anyway?",
                          summary(self.blocking, True) + "\n\nSegment anyway (e.g. for a contrast the check does "
                          "not know)?", QMessageBox.StandardButton.NoButton, self.window)
        anyway = box.addButton("Segment Anyway", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)

        def answered(button: object) -> None:
            if button is anyway:
                self.proceed_anyway = True
                start()  # type: ignore[operator]

        box.buttonClicked.connect(answered)
        self.message_box = box
        box.open()
        return False

    def shutdown(self) -> None:
        self.job.cancel()
        self.job.wait()


def summary(findings: list[ContentFinding], blocking: bool) -> str:
    lines = "\n".join(f"- {f.message}" for f in findings)
    verdict = ("A tumour segmentation of it would be meaningless; Segment is refused." if blocking
               else "Check the images before trusting a segmentation.")
    return f"This case may not be a brain MRI:\n{lines}\n\n{verdict}"


def install(window: QMainWindow) -> ContentCheckController:
    return ContentCheckController(window)
