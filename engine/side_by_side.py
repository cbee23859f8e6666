"""Run one step per contrast in threads: reading the inputs, registering them.

The heavy parts (zlib inflating a gzip NIfTI, SimpleITK registering) release the GIL, so threads overlap on a
workstation's cores. Progress calls are serialised, each thread runs in a copy of the caller's context (so
``contextvars`` such as ``engine.io.budget.memory_limit`` hold there too), and the first failure stops the
other threads at their next cancel check; its error is raised rather than their cancellation.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from engine.errors import CancelCheck, OperationCancelled, ProgressCallback, report

Result = TypeVar("Result")
Step = Callable[[str, ProgressCallback, CancelCheck], Result]


def usable_cores() -> int:
    """Cores this process may run on (its affinity where the platform tells it, else the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_side_by_side(keys: Iterable[str], step: Step[Result], workers: int, progress: ProgressCallback | None,
                     cancel: CancelCheck | None, name: str = "revseg-step") -> dict[str, Result]:
    """``step(key, progress, stop)`` for every key, in up to ``workers`` threads.

    Args:
        keys: what to run the step on (e.g. contrast roles), in the order of the result.
        step: the work for one key; it must poll ``stop`` (true once the caller cancels or another key failed)
            and report through the ``progress`` it is given (serialised; never None).
        workers: threads; 1 or less runs the keys one after another in the caller's thread.
        progress: the caller's progress callback, or None.
        cancel: the caller's cancel check, or None.
        name: thread name prefix.

    Raises:
        The first failure's error; OperationCancelled when cancelled.
    """
    keys = list(keys)
    failed, lock = threading.Event(), threading.Lock()

    def locked_progress(stage: str, done: int, total: int) -> None:
        with lock:
            report(progress, stage, done, total)

    def stop() -> bool:
        return failed.is_set() or (cancel is not None and bool(cancel()))

    def run(key: str) -> Result:
        try:
            return step(key, locked_progress, stop)
        except BaseException:
            failed.set()
            raise

    if workers <= 1 or len(keys) <= 1:
        return {key: run(key) for key in keys}
    with ThreadPoolExecutor(min(workers, len(keys)), thread_name_prefix=name) as pool:
        futures = {key: pool.submit(contextvars.copy_context().run, run, key) for key in keys}
        wait(futures.values())
    errors = [error for future in futures.values() if (error := future.exception()) is not None]
    causes = [error for error in errors if not isinstance(error, OperationCancelled)]
    if errors:
        raise (causes or errors)[0]
    return {key: future.result() for key, future in futures.items()}
