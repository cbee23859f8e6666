"""Loading a case folder off the GUI thread.

Reading and decompressing four NIfTI volumes takes about a second, so it runs in a ``BackgroundJob`` worker;
the result (or a one-line error message) comes back through a queued Qt signal on the GUI thread. The worker
does numpy work only (no Qt widgets, no VTK). A newer request supersedes an older one still running
(``BackgroundJob.replace``): its result is dropped when it arrives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from engine.case import Case, CaseError, load_case_folder
from gui.background import BackgroundJob
from gui.viewer.viewer_model import WindowLevel, default_window_levels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedCase:
    """A case read in the background, with the default display windows computed alongside."""

    case: Case
    window_levels: dict[str, WindowLevel]


def read_case(folder: Path) -> LoadedCase:
    """Load ``folder`` and compute its default windows (runs in the worker thread)."""
    case = load_case_folder(folder, require_all=False)  # one to three contrasts can be viewed (not segmented)
    return LoadedCase(case, default_window_levels(case))


class CaseLoader(QObject):
    """Loads case folders in a background thread (a ``BackgroundJob``); the latest request wins.

    Signals:
        loaded(LoadedCase): the latest requested case is ready.
        failed(str folder, str message): the latest request failed; ``message`` is one line for the user.
    """

    loaded = Signal(object)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._job = BackgroundJob(self)
        self._job.finished.connect(self.loaded)
        self._job.failed.connect(self._on_failed)
        self._folder = Path()

    @property
    def busy(self) -> bool:
        return self._job.busy

    def load(self, folder: str | Path) -> None:
        """Start loading ``folder``; a load still running is superseded (its result is dropped)."""
        self._folder = path = Path(folder)
        log.info("loading case folder %s", path)
        self._job.replace(lambda progress, cancel: read_case(path))

    def wait(self, milliseconds: int = 30_000) -> bool:
        """Block until running loads finish (used at shutdown only)."""
        return self._job.wait(milliseconds)

    @Slot(object, str)
    def _on_failed(self, error: object, details: str) -> None:
        if isinstance(error, CaseError):
            message = str(error)
        else:
            log.error("loading %s failed:\n%s", self._folder, details)
            message = f"could not open {self._folder}: {type(error).__name__}: {error}"
        log.warning("cannot open %s: %s", self._folder, message)
        self.failed.emit(str(self._folder), message)
