"""Starting the GUI: QApplication with a dark theme, the main window, the first case, the event loop."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from engine.case import CaseError, default_demo_case
from gui.shell import autosave
from gui.shell.gc_guard import GuiThreadGarbageCollector
from gui.shell.workstation import build_workstation

log = logging.getLogger(__name__)

DEFAULT_WINDOW_SIZE = (1280, 900)


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once): crisp high-DPI scaling and a dark Fusion theme."""
    existing = QApplication.instance()
    if existing is not None:
        return existing  # type: ignore[return-value]
    if sys.platform.startswith("linux") and os.environ.get("DISPLAY"):
        # VTK renders through GLX into X11 windows; on a Wayland desktop Qt would hand it Wayland surfaces.
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    # Fractional scale factors (e.g. 150 %) are applied as they are instead of being rounded to 1x or 2x.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("RevSeg")
    app.setOrganizationName("RevSeg")
    apply_dark_theme(app)
    app.garbage_collector = GuiThreadGarbageCollector(app)  # never collect Qt/VTK objects in a worker thread
    return app


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style with a dark palette: images read better on a dark surround, as in radiology viewers."""
    app.setStyle("Fusion")
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: QColor(37, 38, 41),
        QPalette.ColorRole.WindowText: QColor(220, 220, 220),
        QPalette.ColorRole.Base: QColor(25, 26, 28),
        QPalette.ColorRole.AlternateBase: QColor(45, 46, 50),
        QPalette.ColorRole.ToolTipBase: QColor(45, 46, 50),
        QPalette.ColorRole.ToolTipText: QColor(230, 230, 230),
        QPalette.ColorRole.Text: QColor(220, 220, 220),
        QPalette.ColorRole.Button: QColor(48, 49, 53),
        QPalette.ColorRole.ButtonText: QColor(220, 220, 220),
        QPalette.ColorRole.BrightText: QColor(255, 80, 80),
        QPalette.ColorRole.Highlight: QColor(52, 120, 198),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(90, 160, 240),
    }
    for role, color in colors.items():
        palette.setColor(role, color)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    app.setPalette(palette)


def run_gui(case_folder: Path | None, segmentation: Path | None = None) -> int:
    """Open the viewer on ``case_folder`` (default: the bundled demo case) and run the event loop.

    Args:
        case_folder: a folder with BraTS 2020 / 2023 style NIfTI files, or None for the demo case.
        segmentation: a NIfTI label map or DICOM-SEG to open onto the case once it is shown.

    Returns:
        The Qt event loop's exit code.
    """
    app = create_application()
    window = build_workstation()
    window.resize(*DEFAULT_WINDOW_SIZE)
    window.show()
    restored = case_folder is None and autosave.offer_at_start(window.open_case, parent=window,
                                                               controller=window.autosave) is not None
    if restored:
        return app.exec()  # the user restored unsaved edits of an earlier session: that case is opening
    if case_folder is None:
        try:
            case_folder = default_demo_case()
        except CaseError as error:
            log.warning("%s", error)
            window.statusBar().showMessage(str(error))
    if case_folder is not None:
        if segmentation is not None:
            open_after_load(window, segmentation)
        window.open_case(case_folder)
    return app.exec()


def open_after_load(window: object, segmentation: Path) -> None:
    """Open ``segmentation`` onto the case once the window has loaded it (once)."""
    def opened(_case_id: str) -> None:
        window.case_loaded.disconnect(opened)  # type: ignore[attr-defined]
        window.open_segmentation.open(segmentation)  # type: ignore[attr-defined]

    window.case_loaded.connect(opened)  # type: ignore[attr-defined]
