"""Run one engine call at a time off the GUI thread, with progress and cancellation.

``BackgroundJob.start(function)`` runs ``function(progress, cancel)`` in a ``QThreadPool`` worker. The worker
touches no widget: ``progress(stage, done, total)`` and the outcome travel to the GUI thread through queued
signals of a QObject that lives there, so the event loop keeps running (no ``processEvents`` loops).
``cancel()`` sets a flag the engine polls between steps and tiles. ``replace(function)`` is for requests where
the latest wins (opening a case while another still loads): the running job is cancelled, its outcome dropped
whenever it arrives, and the new one runs next.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from engine.errors import CancelCheck, OperationCancelled, ProgressCallback

log = logging.getLogger(__name__)

Work = Callable[[ProgressCallback, CancelCheck], object]


class _Signals(QObject):
    progressed = Signal(int, str, int, int)
    finished = Signal(int, object)
    failed = Signal(int, object, str)
    cancelled = Signal(int)


class _Task(QRunnable):
    def __init__(self, number: int, work: Work, flag: threading.Event, signals: _Signals) -> None:
        super().__init__()
        self.number, self.work, self.flag, self.signals = number, work, flag, signals

    def run(self) -> None:
        progress = lambda stage, done, total: self.signals.progressed.emit(self.number, stage, done, total)  # noqa: E731
        work, self.work = self.work, None  # the pool may keep this runnable: it must not keep the job's inputs
        try:
            result = work(progress, self.flag.is_set)
        except OperationCancelled:
            self.signals.cancelled.emit(self.number)
        except Exception as error:  # noqa: BLE001 - every failure must reach the user as a message
            self.signals.failed.emit(self.number, error, traceback.format_exc())
        else:
            if self.flag.is_set():
                self.signals.cancelled.emit(self.number)  # cancelled after the last check: drop the result
            else:
                self.signals.finished.emit(self.number, result)


class BackgroundJob(QObject):
    """One background job at a time.

    Signals:
        progressed(str stage, int done, int total): the running job advanced.
        finished(object result): the job returned.
        failed(object exception, str traceback): the job raised.
        cancelled(): the job stopped after ``cancel()``.
    """

    progressed = Signal(str, int, int)
    finished = Signal(object)
    failed = Signal(object, str)
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.progressed.connect(self._on_progress)
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)
        self._signals.cancelled.connect(self._on_cancelled)
        self._number = 0
        self._running: tuple[_Task, threading.Event] | None = None

    @property
    def busy(self) -> bool:
        return self._running is not None

    def start(self, work: Work) -> None:
        """Run ``work(progress, cancel)`` in the worker thread.

        Raises:
            RuntimeError: a job is still running.
        """
        if self._running is not None:
            raise RuntimeError("a background job is already running")
        self._launch(work)

    def replace(self, work: Work) -> None:
        """Run ``work`` instead of the running job, if any: that one is cancelled and its outcome dropped."""
        if self._running is not None:
            self._running[1].set()
        self._launch(work)

    def _launch(self, work: Work) -> None:
        self._number += 1
        flag = threading.Event()
        task = _Task(self._number, work, flag, self._signals)
        task.setAutoDelete(False)
        self._running = (task, flag)
        self._pool.start(task)

    def cancel(self) -> None:
        """Ask the running job to stop (it ends with ``cancelled``)."""
        if self._running is not None:
            self._running[1].set()

    def wait(self, milliseconds: int = 60_000) -> bool:
        """Block until the worker is idle (shutdown and tests only)."""
        return self._pool.waitForDone(milliseconds)

    def _current(self, number: int) -> bool:
        return self._running is not None and number == self._number

    @Slot(int, str, int, int)
    def _on_progress(self, number: int, stage: str, done: int, total: int) -> None:
        if self._current(number) and not self._running[1].is_set():  # type: ignore[index]
            self.progressed.emit(stage, done, total)

    @Slot(int, object)
    def _on_finished(self, number: int, result: object) -> None:
        if self._current(number):
            self._running = None
            self.finished.emit(result)

    @Slot(int, object, str)
    def _on_failed(self, number: int, error: object, details: str) -> None:
        if self._current(number):
            self._running = None
            self.failed.emit(error, details)

    @Slot(int)
    def _on_cancelled(self, number: int) -> None:
        if self._current(number):
            self._running = None
            self.cancelled.emit()
