"""BackgroundJob: one engine call at a time off the GUI thread; progress, cancel, failure, latest-wins replace."""

from __future__ import annotations

import threading

import pytest
from pytestqt.qtbot import QtBot

from engine.errors import OperationCancelled
from gui.background import BackgroundJob


def test_result_and_progress_arrive_on_the_gui_thread(qtbot: QtBot) -> None:
    job = BackgroundJob()
    seen: list[tuple[str, int, int, bool]] = []
    job.progressed.connect(lambda stage, done, total: seen.append(
        (stage, done, total, threading.current_thread() is threading.main_thread())))

    def work(progress, cancel) -> int:  # noqa: ANN001 - the engine's callback types
        for done in range(1, 4):
            progress("tiles", done, 3)
        return 42

    with qtbot.waitSignal(job.finished, timeout=5000) as finished:
        job.start(work)
        assert job.busy
    assert finished.args == [42] and not job.busy
    qtbot.waitUntil(lambda: len(seen) == 3, timeout=2000)
    assert seen == [("tiles", d, 3, True) for d in (1, 2, 3)]


def test_a_second_start_while_busy_is_refused(qtbot: QtBot) -> None:
    job, release = BackgroundJob(), threading.Event()
    job.start(lambda progress, cancel: release.wait(5))
    with pytest.raises(RuntimeError, match="already running"):
        job.start(lambda progress, cancel: None)
    with qtbot.waitSignal(job.finished, timeout=5000):
        release.set()


def test_cancel_ends_with_cancelled_and_no_result(qtbot: QtBot) -> None:
    job, started = BackgroundJob(), threading.Event()
    finished: list[object] = []
    job.finished.connect(finished.append)

    def work(progress, cancel) -> None:  # noqa: ANN001
        started.set()
        while not cancel():
            threading.Event().wait(0.01)
        raise OperationCancelled("stopped")

    job.start(work)
    assert started.wait(5)
    with qtbot.waitSignal(job.cancelled, timeout=5000):
        job.cancel()
    assert finished == [] and not job.busy


def test_failure_carries_the_exception_and_traceback(qtbot: QtBot) -> None:
    job = BackgroundJob()

    def work(progress, cancel) -> None:  # noqa: ANN001
        raise ValueError("bad input")

    with qtbot.waitSignal(job.failed, timeout=5000) as failed:
        job.start(work)
    error, details = failed.args
    assert isinstance(error, ValueError) and "bad input" in details and not job.busy


def test_replace_drops_the_superseded_result_and_delivers_the_latest(qtbot: QtBot) -> None:
    job, release = BackgroundJob(), threading.Event()
    results: list[object] = []
    job.finished.connect(results.append)
    job.start(lambda progress, cancel: release.wait(5) and "old")
    job.replace(lambda progress, cancel: "new")
    release.set()
    qtbot.waitUntil(lambda: results == ["new"], timeout=5000)
    job.wait(5000)
    qtbot.wait(50)  # any late signal of the old job would have arrived by now
    assert results == ["new"] and not job.busy
