"""The garbage collector runs on the GUI thread only: automatic collection off, timer-driven collection on."""

from __future__ import annotations

import gc
import weakref

import pytest
import shiboken6

from gui.shell.gc_guard import GuiThreadGarbageCollector

pytestmark = pytest.mark.gui


class _Node:
    def __init__(self) -> None:
        self.partner: _Node | None = None


def test_collects_cycles_on_its_own_thread_and_restores_the_collector(qapp) -> None:
    gc.enable()
    guard = GuiThreadGarbageCollector(interval_ms=60_000)
    try:
        assert not gc.isenabled()
        a, b = _Node(), _Node()
        a.partner, b.partner = b, a
        alive = weakref.ref(a)
        del a, b
        junk = [[] for _ in range(guard.threshold[0] + 10)]  # pass the first generation's threshold
        assert alive() is not None  # no automatic collection
        assert guard.check() > 0 and alive() is None
        del junk
    finally:
        shiboken6.delete(guard)  # its parent (the application) going away does the same
    assert gc.isenabled()  # the automatic collector is back
