"""Loading a case folder off the GUI thread.

Reading and decompressing four NIfTI volumes takes about a second, so it runs in a QThreadPool worker; the
result (or a one-line error message) comes back through a queued Qt signal on the GUI thread. The worker
does numpy work only (no Qt widgets, no VTK). A newer request supersedes an older one still running: its
result is dropped when it arrives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from engine.case import Case, CaseError, load_case_folder
from gui.viewer_model import WindowLevel, default_window_levels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedCase:
    """A case read in the background, with the default display windows computed alongside."""

    case: Case
    window_levels: dict[str, WindowLevel]


def read_case(folder: Path) -> LoadedCase:
    """Load ``folder`` and compute its default windows (runs in the worker thread)."""
    case = load_case_folder(folder)
    return LoadedCase(case, default_window_levels(case))


class _Signals(QObject):
    finished = Signal(int, object)
    failed = Signal(int, str, str)


class _LoadTask(QRunnable):
    def __init__(self, request: int, folder: Path, signals: _Signals) -> None:
        super().__init__()
        self.request, self.folder, self.signals = request, folder, signals

    def run(self) -> None:
        try:
            result = read_case(self.folder)
        except CaseError as error:
            self.signals.failed.emit(self.request, str(self.folder), str(error))
        except Exception as error:  # noqa: BLE001 - any failure must reach the user as a message
            log.exception("loading %s failed", self.folder)
            message = f"could not open {self.folder}: {type(error).__name__}: {error}"
            self.signals.failed.emit(self.request, str(self.folder), message)
        else:
            self.signals.finished.emit(self.request, result)


class CaseLoader(QObject):
    """Loads case folders one at a time in a background thread.

    Signals:
        loaded(LoadedCase): the latest requested case is ready.
        failed(str folder, str message): the latest request failed; ``message`` is one line for the user.
    """

    loaded = Signal(object)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._latest = 0
        self._pending: dict[int, tuple[_LoadTask, _Signals]] = {}
        self._signals = _Signals(self)
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def load(self, folder: str | Path) -> int:
        """Start loading ``folder``; returns the request number."""
        self._latest += 1
        task = _LoadTask(self._latest, Path(folder), self._signals)
        task.setAutoDelete(False)
        self._pending[self._latest] = (task, self._signals)
        log.info("loading case folder %s", folder)
        self._pool.start(task)
        return self._latest

    def wait(self, milliseconds: int = 30_000) -> bool:
        """Block until running loads finish (used at shutdown only)."""
        return self._pool.waitForDone(milliseconds)

    @Slot(int, object)
    def _on_finished(self, request: int, result: LoadedCase) -> None:
        self._pending.pop(request, None)
        if request == self._latest:
            self.loaded.emit(result)

    @Slot(int, str, str)
    def _on_failed(self, request: int, folder: str, message: str) -> None:
        self._pending.pop(request, None)
        if request == self._latest:
            log.warning("cannot open %s: %s", folder, message)
            self.failed.emit(folder, message)
