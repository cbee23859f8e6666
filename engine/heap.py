"""Handing freed memory back to the operating system (glibc's malloc), for long-running processes like the GUI.

numpy and torch (CPU) allocate through malloc. glibc serves blocks above its mmap threshold with their own
mappings, returned to the system on free, but it raises that threshold up to 32 MiB each time such a block is
freed; afterwards volume-sized arrays (a 240 x 240 x 155 label map is 9 MB, a tile's activations tens of MB) come
from the heap arenas, and freeing them leaves the pages resident (each worker thread has its own arena). So:

- ``configure_allocator`` fixes the mmap threshold (4 MiB): large blocks are always separate mappings;
- ``release_free_memory`` runs ``malloc_trim(0)``, which gives the free pages of every arena back, after big
  frees (a case closed, a segmentation finished).

Both do nothing (and return False) where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # mallopt parameter numbers from glibc's malloc.h
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
_libc: ctypes.CDLL | None = None
_looked_up = False


def _glibc() -> ctypes.CDLL | None:
    global _libc, _looked_up
    if not _looked_up:
        _looked_up = True
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt"):
                    _libc = libc
            except OSError:
                _libc = None
    return _libc


def configure_allocator(mmap_threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Serve blocks of at least ``mmap_threshold`` bytes by separate mappings from now on (glibc only).

    Args:
        mmap_threshold: bytes, 128 KiB to 32 MiB.

    Returns:
        Whether the setting was applied.
    """
    if not 128 * 1024 <= mmap_threshold <= 32 * 1024 * 1024:
        raise ValueError(f"mmap_threshold must be between 128 KiB and 32 MiB, got {mmap_threshold} bytes")
    libc = _glibc()
    if libc is None:
        return False
    applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(mmap_threshold)))
    log.debug("malloc mmap threshold %d bytes: %s", mmap_threshold, "set" if applied else "refused")
    return applied


def release_free_memory() -> bool:
    """Give the free pages of malloc's arenas back to the system (glibc ``malloc_trim(0)``).

    Returns:
        Whether any memory was released (False also where this is not glibc).
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(ctypes.c_size_t(0)))
