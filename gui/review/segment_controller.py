"""One-click Segment: the engine pipeline in a worker thread, a progress widget with Cancel, the result shown.

Segmentation > Segment (Ctrl+Shift+S) runs ``engine.interactive.segment_for_viewer`` on the case on screen in a
``gui.background.BackgroundJob``. The status bar shows the stage (loading, registration, skull strip, tiles
n/N, post-processing), a progress bar, the device (GPU name or CPU) with the estimated time left, and a Cancel
button (Esc). The result goes to ``window.model.set_segmentation(label, uncertainty, "ai")``; an error gives a
readable message box with the details in the log. Opening another case cancels a running segmentation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from engine.errors import CancelCheck, ProgressCallback, report
from engine.heap import release_free_memory
from engine.interactive import ViewerSegmentation, segment_for_viewer
from engine.lesion_focus import largest_lesion_centre
from engine.partial_study import missing_roles
from engine.segment import DEMO_NOTICE, Segmenter, load_segmenter
from gui.background import BackgroundJob
from gui.menus import make_action, menu_named
from gui.review.settings_dialog import NO_WEIGHTS, SegmentationSettings, SettingsController
from gui.viewer.viewer_model import DISPLAY_NAMES

log = logging.getLogger(__name__)

STAGE_TITLES = {"loading": "Loading", "registration": "Registration", "skull strip": "Skull strip",
                "tiles": "Tiles", "post-processing": "Post-processing", "weights": "Loading weights",
                "cpu engine": "Preparing the CPU engine for these weights (once)"}


def device_description(device: str) -> str:
    """The device Segment will use, for people: the GPU's name, or "CPU (n threads)".

    Raises:
        ValueError: the device is not available (e.g. cuda without a GPU).
    """
    import torch

    from engine.inference.predictor import resolve_device

    try:
        resolved = resolve_device(device)
    except ValueError:  # the engine's message names command-line options; say it in the GUI's words
        raise ValueError(f"The device \"{device}\" is not available on this computer. Choose \"auto\" or \"cpu\" "
                         "in Segmentation > Settings...") from None
    if resolved.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(resolved)}"
    if resolved.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


class SegmentProgress(QWidget):
    """Stage, tiles n/N, a progress bar, the device with the estimated time left, and Cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stage_label = QLabel()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(160)
        self.bar.setTextVisible(False)
        self.device_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the segmentation (Esc); nothing is kept")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.stage_label, self.bar, self.device_label, self.cancel_button):
            layout.addWidget(widget)
        self._tiles_started: float | None = None
        self.hide()

    def begin(self, device: str) -> None:
        self.device = device
        self._tiles_started = None
        self.stage_label.setText("Starting...")
        self.device_label.setText(device)
        self.bar.setRange(0, 0)  # busy until the first report
        self.show()

    def update_stage(self, stage: str, done: int, total: int) -> None:
        title = STAGE_TITLES.get(stage, stage.capitalize())
        if stage == "tiles":
            title = f"Tiles {done}/{total}"
            self._update_estimate(done, total)
        self.stage_label.setText(title)
        if total <= 1 and done < 1:
            # One unit of work that has just begun (e.g. the one-off CPU-engine export, ~12 s): an empty bar
            # would look stalled, so show Qt's busy indicator until it reports done.
            self.bar.setRange(0, 0)
            return
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, max(total, 1)))

    def _update_estimate(self, done: int, total: int) -> None:
        """Time left from the tiles so far (the tiles are most of a run)."""
        now = time.perf_counter()
        if self._tiles_started is None or done == 0:
            self._tiles_started = now
            self.device_label.setText(f"{self.device}, estimating time...")
            return
        left = (now - self._tiles_started) / done * (total - done)
        self.device_label.setText(f"{self.device}, about {left:.0f} s left")


class SegmentController(QObject):
    """Runs Segment for a window.

    Signals:
        finished(ViewerSegmentation): the result is on screen.
        failed(str): the message shown to the user.
        cancelled(): a run stopped; nothing changed.
    """

    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, window: QMainWindow, settings: SettingsController) -> None:
        super().__init__(window)
        self.window, self.settings = window, settings
        self.job = BackgroundJob(self)
        self.job.progressed.connect(self._on_progress)
        self.job.finished.connect(self._on_finished)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.last_run: ViewerSegmentation | None = None
        self.segmenter: Segmenter | None = None
        self._segmenter_key: tuple | None = None
        self._case_key: tuple | None = None
        self.error_box: QMessageBox | None = None
        #: extra ``PredictorConfig`` settings (tile, overlap, tta ...) on top of the device from the settings
        self.predictor_options: dict[str, object] = {}
        self.progress = SegmentProgress()
        self.progress.cancel_button.clicked.connect(self.cancel)
        window.statusBar().addPermanentWidget(self.progress)
        self.segment_action = make_action(window, "&Segment", self.segment,
                                          "Segment the tumour in the open case with the chosen weights",
                                          "Ctrl+Shift+S")
        self.cancel_action = make_action(window, "&Cancel Segmentation", self.cancel,
                                         "Stop the running segmentation", "Esc")
        self.cancel_action.setEnabled(False)
        menu = menu_named(window, "&Segmentation")
        menu.insertActions(menu.actions()[0] if menu.actions() else None, [self.segment_action, self.cancel_action])
        toolbar = window.addToolBar("Segmentation")
        toolbar.setObjectName("segmentation-toolbar")
        toolbar.addAction(self.segment_action)
        window.model.case_changed.connect(self._on_case_changed)

    @property
    def busy(self) -> bool:
        return self.job.busy

    def segment(self) -> bool:
        """Start segmenting the open case; False (with a message) when it cannot start."""
        case, settings = self.window.model.case, self.settings.settings
        if self.busy:
            return False
        if case is None:
            self.window.statusBar().showMessage("Open a case before segmenting", 5000)
            return False
        if missing_roles(case.volumes):
            self.window.statusBar().showMessage(self.segment_action.toolTip(), 8000)
            return False
        if settings.effective_weights is None:
            self._show_error(NO_WEIGHTS, "")
            return False
        content = getattr(self.window, "content_check", None)
        if content is not None and not content.confirm_segment(self.segment):  # not a brain MRI: asks first
            return False
        try:
            device = device_description(settings.device)
        except ValueError as error:
            self._show_error(str(error), "")
            return False
        self._case_key = case_key(case)
        self.progress.begin(device)
        self.segment_action.setEnabled(False)
        self.cancel_action.setEnabled(True)
        log.info("segmenting %s with %s on %s", case.case_id, settings.effective_weights, device)
        self.job.start(lambda progress, cancel: self._run(case, settings, progress, cancel))
        return True

    def cancel(self) -> None:
        """Stop the running segmentation (nothing is kept)."""
        if self.busy:
            self.progress.stage_label.setText("Cancelling...")
            self.job.cancel()

    def _run(self, case: object, settings: SegmentationSettings, progress: ProgressCallback,
             cancel: CancelCheck) -> ViewerSegmentation:
        """Worker thread: load the weights once per file and device, then segment."""
        return segment_for_viewer(case, self._segmenter(settings, progress), progress=progress, cancel=cancel)  # type: ignore[arg-type]

    def _segmenter(self, settings: SegmentationSettings, progress: ProgressCallback) -> Segmenter:
        from engine.inference.predictor import PredictorConfig

        path = Path(settings.effective_weights)  # type: ignore[arg-type]
        key = (str(path), path.stat().st_mtime_ns, settings.device, tuple(sorted(self.predictor_options.items())))
        if self.segmenter is None or key != self._segmenter_key:
            report(progress, "weights", 0, 1)
            self.segmenter = load_segmenter(path, PredictorConfig(device=settings.device, **self.predictor_options))
            self._segmenter_key = key
            report(progress, "weights", 1, 1)
        # post-processing is cheap to change: a copy sharing the loaded network, not a reload of the weights
        postprocess = replace(self.segmenter.postprocess, min_component_ml=settings.min_lesion_ml)
        return replace(self.segmenter, postprocess=postprocess)

    def _finish(self) -> None:
        # The worker's inputs, tiles, activations and probability maps are gone: give their pages back.
        QTimer.singleShot(0, release_free_memory)
        self.progress.hide()
        self.segment_action.setEnabled(True)
        self._update_segment_action()
        self.cancel_action.setEnabled(False)

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.update_stage(stage, done, total)

    def _on_finished(self, run: ViewerSegmentation) -> None:
        self._finish()
        if self.window.model.case is None or case_key(self.window.model.case) != self._case_key:
            log.info("dropping a segmentation of a case that is no longer shown")
            self.cancelled.emit()
            return
        self.last_run = run
        self.window.model.set_segmentation(run.label, run.uncertainty, "ai")
        self.window.model.set_overlay(visible=True)
        centre = largest_lesion_centre(run.label)
        if centre is not None:  # otherwise the views may show slices without any label
            self.window.model.set_cursor(centre)
        volumes = run.volumes_ml
        text = (f"Segmented in {run.timings_s['total']:.1f} s on {run.device}: WT {volumes['WT']:.1f} mL, "
                f"TC {volumes['TC']:.1f} mL, ET {volumes['ET']:.1f} mL")
        self.window.statusBar().showMessage(text + (f" - {DEMO_NOTICE}" if run.demo else ""))
        self.finished.emit(run)

    def _on_failed(self, error: object, details: str) -> None:
        self._finish()
        if isinstance(error, ValueError):
            message = str(error)
            log.error("segmentation failed: %s", message)
        else:
            message = f"Segmentation failed: {type(error).__name__}: {error}. The details are in the log."
            log.error("segmentation failed\n%s", details)
        self._show_error(message, details)
        self.failed.emit(message)

    def _on_cancelled(self) -> None:
        self._finish()
        self.window.statusBar().showMessage("Segmentation cancelled", 5000)
        self.cancelled.emit()

    def _on_case_changed(self) -> None:
        self.last_run = None
        self.cancel()
        self._update_segment_action()

    def _update_segment_action(self) -> None:
        """Segment is enabled for a case with all four contrasts; the tooltip names what is missing."""
        case = self.window.model.case
        missing = [] if case is None else missing_roles(case.volumes)
        self.segment_action.setEnabled(not missing and not self.busy)
        if missing:
            names = ", ".join(DISPLAY_NAMES[role] for role in missing)
            tip = f"Segment needs all four contrasts; this study has no {names}"
        else:
            tip = "Segment the tumour in the open case with the chosen weights (Ctrl+Shift+S)"
        self.segment_action.setToolTip(tip)
        self.segment_action.setStatusTip(tip)

    def _show_error(self, message: str, details: str) -> None:
        """A window-modal message box that does not block the event loop (kept in ``error_box``)."""
        self.error_box = QMessageBox(QMessageBox.Icon.Critical, "Segmentation", message,
                                     QMessageBox.StandardButton.Ok, self.window)
        if details:
            self.error_box.setDetailedText(details)
        self.error_box.open()

    def shutdown(self) -> None:
        """Cancel and wait for the worker (call from the window's closeEvent)."""
        self.job.cancel()
        self.job.wait()


def case_key(case: object) -> tuple:
    """What identifies the case on screen (``set_segmentation`` replaces the Case object, not these)."""
    return (case.case_id, str(case.folder), tuple(case.shape))  # type: ignore[attr-defined]


def install(window: QMainWindow, settings: SettingsController | None = None) -> SegmentController:
    """Add Segment / Cancel (menu, toolbar, Ctrl+Shift+S, Esc) and the progress widget to ``window``.

    Args:
        window: the main window (uses its menu bar, status bar and ``model``).
        settings: the window's settings controller; installed here when not given.
    """
    if settings is None:
        from gui.review import settings_dialog

        settings = settings_dialog.install(window)
    return SegmentController(window, settings)
