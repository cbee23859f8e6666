"""File > Open Segmentation... (and dropping a label map or DICOM-SEG on the window, and ``gui CASE --seg FILE``):
an existing segmentation onto the open case, through ``engine.seg_import.load_segmentation`` in a worker.

The loaded map is shown like an AI result (source "file"): it can be reviewed, edited, measured, reported and
exported; the views jump to its largest lesion.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from engine.io.file_roles import SEGMENTATION, modality_of
from engine.lesion_focus import largest_lesion_centre
from engine.seg_import import ImportedSegmentation, is_dicom_seg, load_segmentation
from gui.background import BackgroundJob
from gui.menus import make_action, menu_named
from gui.review.segment_controller import case_key

log = logging.getLogger(__name__)

FILTER = "Segmentations (*.nii *.nii.gz *.dcm);;NIfTI label maps (*.nii *.nii.gz);;DICOM-SEG (*.dcm);;All files (*)"


class OpenSegmentationController(QObject):
    """Loads segmentation files onto the window's case.

    Signals:
        loaded(ImportedSegmentation): shown on the case.
        failed(str): the message shown to the user.
    """

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.job = BackgroundJob(self)
        self.job.finished.connect(self._on_loaded)
        self.job.failed.connect(self._on_failed)
        self.message_box: QMessageBox | None = None
        self.action = make_action(window, "Open Se&gmentation...", self.choose,
                                  "Load a label map (NIfTI, BraTS 2020 or 2023 labels) or a DICOM-SEG onto the open "
                                  "case, to review, edit and export it", "Ctrl+Shift+G")
        file_menu = menu_named(window, "&File")
        actions = file_menu.actions()
        file_menu.insertAction(actions[3] if len(actions) > 3 else None, self.action)
        self.action.setEnabled(False)
        window.model.case_changed.connect(  # type: ignore[attr-defined]
            lambda: self.action.setEnabled(window.model.case is not None))  # type: ignore[attr-defined]
        window.installEventFilter(self)  # after the study dialog's filter: asked first, so it sees seg drops

    def choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open Segmentation", str(self.window.model.case.folder),  # type: ignore[attr-defined]
                                              FILTER)
        if path:
            self.open(Path(path))

    def open(self, path: str | Path) -> bool:
        """Load ``path`` onto the open case in the background; False when nothing started."""
        case = self.window.model.case  # type: ignore[attr-defined]
        if case is None:
            self.window.statusBar().showMessage("Open a case before opening a segmentation", 5000)
            return False
        if self.job.busy:
            return False
        self.window.statusBar().showMessage(f"Loading the segmentation {Path(path).name} ...")
        self.job.start(lambda progress, cancel: (case, load_segmentation(path, case)))
        return True

    def _on_loaded(self, result: tuple) -> None:
        case, imported = result
        model = self.window.model  # type: ignore[attr-defined]
        if model.case is None or case_key(case) != case_key(model.case):
            log.info("dropping a segmentation loaded for a case that is no longer shown")
            return
        model.set_segmentation(imported.label, None, "file")
        model.set_overlay(visible=True)
        centre = largest_lesion_centre(imported.label)
        if centre is not None:
            model.set_cursor(centre)
        self.window.statusBar().showMessage(f"Opened segmentation {imported.summary()}", 15_000)
        self.loaded.emit(imported)

    def _on_failed(self, error: object, details: str) -> None:
        if isinstance(error, ValueError):
            message = str(error)
        else:
            message = f"Could not open the segmentation: {type(error).__name__}: {error}. The details are in the log."
            log.error("opening a segmentation failed\n%s", details)
        self.window.statusBar().showMessage("Segmentation not opened", 5000)
        self.message_box = QMessageBox(QMessageBox.Icon.Critical, "Open Segmentation", message,
                                       QMessageBox.StandardButton.Ok, self.window)
        self.message_box.open()
        self.failed.emit(message)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """A single dropped label map or DICOM-SEG opens onto the shown case (anything else: a study)."""
        if (watched is self.window and event.type() == QEvent.Type.Drop and event.mimeData().hasUrls()
                and self.window.model.case is not None):  # type: ignore[attr-defined]
            paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
            if len(paths) == 1 and is_segmentation_file(paths[0]):
                event.acceptProposedAction()
                self.open(paths[0])
                return True
        return super().eventFilter(watched, event)

    def shutdown(self) -> None:
        self.job.wait()


def is_segmentation_file(path: Path) -> bool:
    """A NIfTI file named as a label map (``*_seg.nii.gz``, ``*-seg``, ``*_label``...) or a DICOM-SEG."""
    return path.is_file() and (modality_of(path) == SEGMENTATION or is_dicom_seg(path))


def install(window: QMainWindow) -> OpenSegmentationController:
    return OpenSegmentationController(window)


__all__ = ["ImportedSegmentation", "OpenSegmentationController", "install", "is_segmentation_file"]
