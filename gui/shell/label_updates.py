"""When the views that follow the label map (3D surfaces, measurements) catch up after an edit.

Each of them waits on a single-shot QTimer that every label change restarts, so a burst of changes costs one
update. During a brush stroke (the left button held in a slice view) an editor changes the label map on every
dab: the timers then wait for a pause of ``STROKE_PAUSE_MS`` (a long stroke still updates when the hand rests),
so that the GUI thread stays free for painting. Outside a stroke, and as soon as the button is released, they
fire at the next event-loop turn: the stroke's result shows without a fixed delay.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)

STROKE_PAUSE_MS = 300
IDLE_DELAY_MS = 0


class StrokeAwareTimers(QObject):
    """Sets ``timers``' intervals from whether a stroke is in progress in one of ``widgets``.

    Args:
        widgets: the slice views' render widgets (where strokes are painted).
        timers: single-shot timers that the label changes (re)start.
        parent: owner (the main window).
    """

    def __init__(self, widgets: Iterable[QWidget], timers: Iterable[QTimer], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timers = list(timers)
        self.in_stroke = False
        for widget in widgets:
            widget.installEventFilter(self)
        self._set_intervals(IDLE_DELAY_MS)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease) and (
                event.button() == Qt.MouseButton.LeftButton):  # type: ignore[attr-defined]
            self.in_stroke = kind == QEvent.Type.MouseButtonPress
            self._set_intervals(STROKE_PAUSE_MS if self.in_stroke else IDLE_DELAY_MS)
        return False

    def _set_intervals(self, milliseconds: int) -> None:
        for timer in self.timers:
            timer.setInterval(milliseconds)
            if timer.isActive() and not self.in_stroke:
                timer.start()  # released: what waited for the pause runs at the next event-loop turn
