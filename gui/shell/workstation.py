"""The full workstation: the viewer window plus every workflow module plugged into it.

``MainWindow`` alone is the viewer (and what the view tests build); ``build_workstation`` adds, through each
module's ``install(window)``: study opening, Settings, one-click Segment, Export, editing, measurements, the
report and autosave. The application (``gui.shell.app.run_gui``) opens this.
"""

from __future__ import annotations

import gc
import logging

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QKeySequence

from engine.heap import configure_allocator, release_free_memory
from engine.report import ModelInfo
from gui.editing import edit_panel, measure_panel
from gui.pacs import pacs_menu
from gui.review import (
    content_warning,
    export_controller,
    open_segmentation,
    report_render,
    segment_controller,
    settings_dialog,
)
from gui.shell import autosave
from gui.shell.label_updates import StrokeAwareTimers
from gui.shell.main_window import MainWindow
from gui.study import study_dialog

log = logging.getLogger(__name__)


def build_workstation(window: MainWindow | None = None, store: QSettings | None = None) -> MainWindow:
    """``window`` (default: a new MainWindow) with every workflow module installed; returns it.

    Args:
        window: the viewer window to extend.
        store: where settings and recent studies live (default: the user's RevSeg settings; tests pass a file).
    """
    configure_allocator()  # volume-sized arrays get their own mappings, returned to the system when freed
    window = window or MainWindow(layout_store=store)  # a test's or script's store keeps its layout too
    window.open_action.setShortcut(QKeySequence())  # Ctrl+O opens a study (any folder, files or DICOM) instead
    window.studies = study_dialog.install(window, store)
    window.segment_settings = settings_dialog.install(window, store)
    window.content_check = content_warning.install(window)
    window.segmentation = segment_controller.install(window, window.segment_settings)
    window.exports = export_controller.install(window, window.segmentation, store)
    window.open_segmentation = open_segmentation.install(window)  # after the study dialog: sees drops first
    window.edit_controller = edit_panel.install(window)
    window.measure_panel = measure_panel.install(window, store)
    window.report_controller = report_render.install(window, model_info=lambda: _model_info(window))
    window.autosave = autosave.install(window)
    window.pacs = pacs_menu.install(window)  # PACS dialog, Studies browser, Send to PACS (docs/pacs.md)
    window.label_updates = StrokeAwareTimers([view.vtk_widget for view in window.editable_views],
                                             _label_followers(window), window)
    window.model.case_changed.connect(lambda: QTimer.singleShot(0, release_memory))
    window.exports.finished.connect(lambda _result: window.autosave.mark_saved())
    window.close_guards.append(lambda: _confirm_unsaved(window, "close"))
    window.replace_guards.append(lambda: _confirm_unsaved(window, "switch"))
    window.shutdown_hooks.extend([window.open_segmentation.shutdown, window.content_check.shutdown, window.segmentation.shutdown, window.exports.shutdown, window.studies.shutdown,
                                  window.pacs.shutdown])
    return window


def release_memory() -> None:
    """Collect cyclic garbage (on the GUI thread) and hand malloc's free pages back: after a case was replaced."""
    gc.collect()
    released = release_free_memory()
    log.debug("memory released to the system after a case change: %s", released)


def _label_followers(window: MainWindow) -> list[QTimer]:
    """The timers after which the 3D surfaces and the measurements follow a label change."""
    timers = [window.volume_view.surface_timer]
    panel_timer = getattr(window.measure_panel, "timer", None)
    if isinstance(panel_timer, QTimer):
        timers.append(panel_timer)
    else:
        log.warning("the measurement panel has no update timer: its own delay applies after edits")
    return timers


def _confirm_unsaved(window: MainWindow, action: str) -> bool:
    """Save / Discard / Cancel before closing or switching cases with unsaved edits (True: go ahead).

    Save exports in the background; closing then follows when the export has finished, while a case switch
    waits for the user to open the other case again (the export must not be raced by a new case).
    """
    retry = window.close if action == "close" else None
    return window.autosave.confirm_close(parent=window, action=action, save_target=window.exports.save_target,
                                         save=lambda: window.exports.save(then=retry) and False)


def _model_info(window: MainWindow) -> ModelInfo:
    """Model and weights of the last segmentation (for the report); empty before any run."""
    run = getattr(window.segmentation, "last_run", None)
    if run is None:
        return ModelInfo()
    return ModelInfo("RevSeg", run.weights_name, run.weights_sha256, run.demo)
