"""Helpers for the display tests: opening a window on a case, reading rendered pixels, sending mouse input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget

from gui.shell.main_window import MainWindow
from gui.viewer.slice_view import SliceView
from gui.viewer.vtk_widget import render_window_pixels

LOAD_TIMEOUT_MS = 30_000
WINDOW_SIZE = (1000, 760)


def open_window(qtbot, folder: Path | None = None) -> MainWindow:
    """A shown main window (closed by qtbot at teardown), with ``folder`` loaded if given."""
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(*WINDOW_SIZE)
    window.show()
    qtbot.waitExposed(window)
    if folder is not None:
        load(qtbot, window, folder)
    return window


def load(qtbot, window: MainWindow, folder: Path) -> None:
    with qtbot.waitSignal(window.case_loaded, timeout=LOAD_TIMEOUT_MS):
        window.open_case(folder)


def pixels(view) -> np.ndarray:
    """What ``view`` shows now: (height, width, 3) uint8, row 0 at the top."""
    return render_window_pixels(view.render_window)


def grey_pixels(image: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Mask of uncoloured (R = G = B, within 3) pixels at least ``minimum`` bright: image, not text/crosshair."""
    channels = image.astype(int)
    spread = channels.max(axis=2) - channels.min(axis=2)
    return (spread <= 3) & (channels.min(axis=2) >= minimum)


def qt_position(view: SliceView, display_xy: tuple[int, int]) -> QPoint:
    """Widget (Qt, logical, y down) position of a VTK display pixel (device, y up)."""
    ratio = view.vtk_widget.devicePixelRatioF()
    x, y = display_xy
    return QPoint(round(x / ratio), round(view.vtk_widget.height() - 1 - y / ratio))


def send_mouse(widget: QWidget, kind: QEvent.Type, position: QPoint, button: Qt.MouseButton,
               buttons: Qt.MouseButton | None = None) -> None:
    held = button if buttons is None else buttons
    event = QMouseEvent(kind, QPointF(position), QPointF(widget.mapToGlobal(position)), button, held,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def click(widget: QWidget, position: QPoint, button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
    send_mouse(widget, QEvent.Type.MouseButtonPress, position, button)
    send_mouse(widget, QEvent.Type.MouseButtonRelease, position, button, Qt.MouseButton.NoButton)


def drag(widget: QWidget, start: QPoint, end: QPoint, button: Qt.MouseButton, steps: int = 5) -> None:
    send_mouse(widget, QEvent.Type.MouseButtonPress, start, button)
    for step in range(1, steps + 1):
        point = start + (end - start) * (step / steps)
        send_mouse(widget, QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, button)
    send_mouse(widget, QEvent.Type.MouseButtonRelease, end, button, Qt.MouseButton.NoButton)


def wheel(widget: QWidget, notches: int) -> None:
    """Turn the mouse wheel by ``notches`` (positive: away from the user) over the widget's centre."""
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    for _ in range(abs(notches)):
        event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                            QPoint(0, 120 if notches > 0 else -120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)


def url_mime(*paths: Path) -> QMimeData:
    """Drag data carrying local files or folders, as a file manager sends them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    return mime


def send_drag_enter(widget: QWidget, mime: QMimeData) -> QDragEnterEvent:
    """Drag ``mime`` into the middle of ``widget``; the returned event says whether it was accepted."""
    event = QDragEnterEvent(_middle(widget), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    return event


def send_drop(widget: QWidget, mime: QMimeData) -> None:
    """Drop ``mime`` in the middle of ``widget``."""
    event = QDropEvent(_middle(widget), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def _middle(widget: QWidget) -> QPointF:
    return QPointF(widget.width() / 2, widget.height() / 2)
