"""engine.heap: glibc's allocator settings and trimming (a no-op elsewhere), and a clear error for bad input."""

from __future__ import annotations

import platform
import sys

import numpy as np
import pytest

from engine.heap import configure_allocator, release_free_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def test_threshold_outside_what_glibc_accepts_is_refused() -> None:
    for bad in (0, 64 * 1024, 64 * 1024 * 1024):
        with pytest.raises(ValueError, match="mmap_threshold"):
            configure_allocator(bad)


@pytest.mark.skipif(not GLIBC, reason="malloc_trim and mallopt are glibc functions")
def test_on_glibc_the_threshold_is_set_and_freed_memory_is_trimmed() -> None:
    assert configure_allocator() is True
    blocks = [np.ones(200_000, np.uint8) for _ in range(200)]  # 40 MB in blocks below the threshold
    del blocks
    assert isinstance(release_free_memory(), bool)
    assert configure_allocator(32 * 1024 * 1024) is True
    configure_allocator()
