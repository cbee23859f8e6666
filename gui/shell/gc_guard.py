"""Python's cyclic garbage collector, run on the GUI thread only.

The automatic collector runs in whichever thread happens to allocate when a threshold is passed, which in this
application is often a worker thread (case loading, segmentation). A collection there can destroy Qt or VTK
objects caught in reference cycles (a window, a view, a lambda connected to a signal) away from the GUI
thread, which crashes the process: CI saw exactly that segfault. ``GuiThreadGarbageCollector`` turns the
automatic collector off and collects from a timer on the GUI thread instead, generation by generation as the
automatic collector would (pyqtgraph's GarbageCollector does the same).
"""

from __future__ import annotations

import gc
import logging

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)


class GuiThreadGarbageCollector(QObject):
    """Collects cyclic garbage every ``interval_ms`` on the thread that owns it (the GUI thread).

    Args:
        parent: usually the QApplication; collection stops and the automatic collector is restored when it goes.
        interval_ms: how often the allocation counts are checked.
    """

    def __init__(self, parent: QObject | None = None, interval_ms: int = 1000) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()
        self.destroyed.connect(gc.enable)

    def check(self) -> int:
        """Collect the generations whose allocation counts passed their thresholds; returns objects freed."""
        counts = gc.get_count()
        freed = 0
        for generation in range(3):
            if counts[generation] <= self.threshold[generation]:
                break
            freed = gc.collect(generation)
        return freed
