"""Export > NIfTI / DICOM-SEG: the shown label map through ``engine.viewer_export.export_for_viewer``.

Each export writes the label map on the native T1ce grid (``CASE_seg.nii.gz`` or ``CASE_seg.dcm``, plus the
T1ce as DICOM when the case came as NIfTI) with the JSON provenance sidecar (``CASE_seg.json``), then reads
the files back; the self-check (frames, segments, voxel counts per label) is shown in the status bar, and a
failed check in a warning. Edited label maps are exported as SEMIAUTOMATIC segmentations. The export runs
in a worker thread; existing files are replaced only after the user agrees.

File names follow the study's identity (``engine.patient.export_stem``, default ``<PatientID>_<StudyDate>_seg``;
the pattern is the setting ``export/name_pattern``); the folder dialog opens in the last export folder.
File > Save Segmentation (Ctrl+S) writes again to the last export target, or asks for a folder (NIfTI).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from engine.errors import OutputExistsError
from engine.patient import DEFAULT_EXPORT_PATTERN, PatientInfo, export_stem
from engine.viewer_export import ViewerExport, export_for_viewer
from gui.background import BackgroundJob
from gui.menus import make_action, menu_named
from gui.settings_store import app_settings

log = logging.getLogger(__name__)

KIND_NAMES = {"nifti": "NIfTI", "dicom-seg": "DICOM-SEG"}
SUFFIXES = {"nifti": ".nii.gz", "dicom-seg": ".dcm"}
LAST_FOLDER_KEY, PATTERN_KEY = "export/last_folder", "export/name_pattern"


class ExportController(QObject):
    """Export actions of a window.

    Signals:
        finished(ViewerExport): files written and read back.
        failed(str): the message shown to the user.
    """

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, window: QMainWindow, segmentation: object | None = None, store: QSettings | None = None) -> None:
        super().__init__(window)
        self.window, self.segmentation = window, segmentation
        self.store = store if store is not None else app_settings()
        #: (kind, folder) of the last export of the shown case: where Save writes without asking
        self.last_target: tuple[str, Path] | None = None
        self._then: Callable[[], object] | None = None
        window.model.case_changed.connect(self._forget_target)  # type: ignore[attr-defined]
        self.job = BackgroundJob(self)
        self.job.finished.connect(self._on_finished)
        self.job.failed.connect(self._on_failed)
        self.last_export: ViewerExport | None = None
        self.message_box: QMessageBox | None = None
        self._pending: tuple[str, Path] | None = None
        self.nifti_action = make_action(window, "Export Segmentation as &NIfTI...", lambda: self.export("nifti"),
                                        "Write the label map as NIfTI on the T1ce grid, with the provenance sidecar",
                                        "Ctrl+E")
        self.seg_action = make_action(window, "Export Segmentation as &DICOM-SEG...", lambda: self.export("dicom-seg"),
                                      "Write the label map as a DICOM-SEG referencing the T1ce series, with the "
                                      "provenance sidecar", "Ctrl+Shift+E")
        self.save_action = make_action(window, "&Save Segmentation", self.save,
                                       "Save the segmentation again where it was last exported, or choose a folder",
                                       "Ctrl+S")
        menu = menu_named(window, "&Export")
        menu.addAction(self.nifti_action)
        menu.addAction(self.seg_action)
        file_menu = menu_named(window, "&File")
        actions = file_menu.actions()
        file_menu.insertAction(actions[-1] if actions else None, self.save_action)  # before Quit

    def _forget_target(self) -> None:
        self.last_target, self._then = None, None

    def stem(self) -> str:
        """The export file name without suffix, from the study's identity and the configured pattern."""
        case = self.window.model.case
        if case is None:
            return ""
        patient = getattr(self.window, "patient", None) or PatientInfo(patient_id=case.case_id)
        pattern = str(self.store.value(PATTERN_KEY, DEFAULT_EXPORT_PATTERN) or DEFAULT_EXPORT_PATTERN)
        try:
            return export_stem(patient, case.case_id, pattern)
        except ValueError as error:
            log.warning("%s; using the default pattern", error)
            return export_stem(patient, case.case_id)

    @property
    def save_target(self) -> str:
        """Where Save writes without asking ("" when it must ask)."""
        if self.last_target is None:
            return ""
        kind, folder = self.last_target
        return str(folder / f"{self.stem()}{SUFFIXES[kind]}")

    def start_folder(self) -> str:
        """The folder the export dialog opens in: the last export folder (not the source data's folder)."""
        last = str(self.store.value(LAST_FOLDER_KEY, "") or "")
        return last if last and Path(last).is_dir() else str(Path.home())

    def save(self, then: Callable[[], object] | None = None) -> bool:
        """Export again to the last target (replacing it), or ask for a folder; ``then`` runs after success.

        Returns:
            True when an export started.
        """
        started = (self.export(self.last_target[0], self.last_target[1], force=True) if self.last_target
                   else self.export("nifti"))
        self._then = then if started else None
        return started
    @property
    def busy(self) -> bool:
        return self.job.busy

    def export(self, kind: str, folder: str | Path | None = None, force: bool = False) -> bool:
        """Export the shown label map into ``folder`` (asked for when None); False when nothing started."""
        model = self.window.model
        if self.busy:
            return False
        if model.case is None or model.label is None:
            self.window.statusBar().showMessage("No segmentation to export: open a case and segment it first", 5000)
            return False
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self.window, f"Export {KIND_NAMES[kind]} into", self.start_folder())
            if not folder:
                return False
        case, label, source = model.case, model.label.copy(), model.label_source  # a snapshot: edits may go on
        run = getattr(self.segmentation, "last_run", None) if source in ("ai", "edited") else None
        self._pending = (kind, Path(folder))
        self.window.statusBar().showMessage(f"Exporting {KIND_NAMES[kind]} into {folder} ...")
        ai_label = self._ai_label() if source == "edited" else None
        stem = self.stem()
        panel = getattr(self.window, "measure_panel", None)  # the lesion table and RANO (with corrections)
        measurements = panel.record() if panel is not None else None
        self.job.start(lambda progress, cancel: export_for_viewer(
            case, label, folder, kind, source=source, run=run, force=force, progress=progress, cancel=cancel,
            ai_label=ai_label, stem=stem, measurements=measurements))
        return True

    def _ai_label(self):  # noqa: ANN202 - np.ndarray | None
        """The AI result the shown edits started from (from the window's edit controller), if any."""
        session = getattr(getattr(self.window, "edit_controller", None), "session", None)
        ai_label = getattr(session, "ai_label", None)
        return None if ai_label is None else ai_label.copy()

    def _on_finished(self, result: ViewerExport) -> None:
        self.last_export = result
        kind = "dicom-seg" if "dicom-seg" in result.files else "nifti"
        text = f"Exported {KIND_NAMES[kind]} {result.files[kind].name}: {result.check.summary()}"
        self.window.statusBar().showMessage(text)
        if not result.check.ok:
            self._show(QMessageBox.Icon.Warning, "Export self-check failed", text)
        if self._pending is not None:
            self.last_target = self._pending
            self.store.setValue(LAST_FOLDER_KEY, str(self._pending[1]))
        self.finished.emit(result)
        then, self._then = self._then, None
        if then is not None and result.check.ok:
            then()

    def _on_failed(self, error: object, details: str) -> None:
        kind, folder = self._pending or ("nifti", Path("."))
        if isinstance(error, OutputExistsError):
            self._ask_overwrite(kind, folder, str(error))
            return
        self._then = None  # nothing saved: what waited for the save (closing) does not happen
        if isinstance(error, ValueError):
            message = f"Export failed: {error}"
            log.error("%s", message)
        else:
            message = f"Export failed: {type(error).__name__}: {error}. The details are in the log."
            log.error("export failed\n%s", details)
        self.window.statusBar().showMessage("Export failed", 5000)
        self._show(QMessageBox.Icon.Critical, "Export", message, details)
        self.failed.emit(message)

    def _ask_overwrite(self, kind: str, folder: Path, message: str) -> None:
        box = self._show(QMessageBox.Icon.Question, "Replace files?", f"{message.split(';')[0]}. Replace the files?")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.buttonClicked.connect(lambda button: self._overwrite_answer(box.standardButton(button), kind, folder))

    def _overwrite_answer(self, answer: QMessageBox.StandardButton, kind: str, folder: Path) -> None:
        if answer == QMessageBox.StandardButton.Yes:
            self.export(kind, folder, force=True)
        else:
            self._then = None
            self.window.statusBar().showMessage("Export not written", 5000)

    def _show(self, icon: QMessageBox.Icon, title: str, text: str, details: str = "") -> QMessageBox:
        """A window-modal message box that leaves the event loop running (kept in ``message_box``)."""
        self.message_box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self.window)
        if details:
            self.message_box.setDetailedText(details)
        self.message_box.open()
        return self.message_box

    def shutdown(self) -> None:
        self.job.wait()


def install(window: QMainWindow, segmentation: object | None = None, store: QSettings | None = None) -> ExportController:
    """Add Export > NIfTI (Ctrl+E) and DICOM-SEG (Ctrl+Shift+E) to ``window``.

    Args:
        window: the main window.
        segmentation: the window's ``SegmentController`` (its ``last_run`` gives the provenance); defaults to
            ``window.segmentation`` when the window has one.
    """
    return ExportController(window, segmentation if segmentation is not None else getattr(window, "segmentation", None),
                            store)
