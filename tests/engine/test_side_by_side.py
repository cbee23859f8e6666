"""run_side_by_side: one step per key in threads, results in key order, serialised progress, the first failure
raised (not the others' cancellation), the caller's context variables visible in every thread."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from engine.errors import CaseError, OperationCancelled, check_cancel
from engine.side_by_side import run_side_by_side

KEYS = ("t1", "t2", "flair")
SETTING: contextvars.ContextVar[str] = contextvars.ContextVar("setting", default="unset")


def test_results_follow_the_keys_and_progress_calls_never_overlap() -> None:
    inside, overlapped, threads = threading.Lock(), [], set()

    def progress(stage: str, done: int, total: int) -> None:
        if not inside.acquire(blocking=False):
            overlapped.append(stage)
            return
        time.sleep(0.002)  # long enough for a second, unserialised call to arrive meanwhile
        inside.release()

    def step(key: str, report: object, stop: object) -> str:
        threads.add(threading.current_thread().name)
        for done in range(20):
            report(f"step {key}", done, 20)  # type: ignore[operator]
        return key.upper()

    results = run_side_by_side(reversed(KEYS), step, 3, progress, None, "test-step")
    assert list(results) == list(reversed(KEYS)) and results["t2"] == "T2"
    assert not overlapped
    assert len(threads) > 1 and all(name.startswith("test-step") for name in threads)


def test_one_worker_runs_in_the_callers_thread() -> None:
    names = run_side_by_side(KEYS, lambda key, report, stop: threading.current_thread().name, 1, None, None)
    assert set(names.values()) == {threading.current_thread().name}


def test_the_first_failure_is_raised_and_stops_the_others() -> None:
    stopped = []

    def step(key: str, report: object, stop: object) -> str:
        if key == "t2":
            raise CaseError("t2 is blank")
        for _ in range(500):  # the others poll stop() as a long registration does
            try:
                check_cancel(stop, key)  # type: ignore[arg-type]
            except OperationCancelled:
                stopped.append(key)
                raise
            time.sleep(0.01)
        return key

    with pytest.raises(CaseError, match="t2 is blank"):
        run_side_by_side(KEYS, step, 3, None, None)
    assert sorted(stopped) == ["flair", "t1"]


def test_cancel_raises_operation_cancelled() -> None:
    with pytest.raises(OperationCancelled):
        run_side_by_side(KEYS, lambda key, report, stop: check_cancel(stop, key), 3, None, lambda: True)


def test_threads_see_the_callers_context_variables() -> None:
    token = SETTING.set("4 GB")
    try:
        seen = run_side_by_side(KEYS, lambda key, report, stop: SETTING.get(), 3, None, None)
    finally:
        SETTING.reset(token)
    assert set(seen.values()) == {"4 GB"}
