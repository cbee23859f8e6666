"""Private, recognisable staging folders for work in progress, and the removal of those a killed run left.

A run stages patient volumes (the prepared case, the exports) next to its outputs, so the final renames stay on
one file system. Each staging folder is created private (0700, by ``mkdtemp``) and named
``.revseg-staging-<pid>-<what>.<random>``. A run killed with SIGKILL cannot clean up after itself, so every run
that stages into a folder first removes the staging folders there whose process no longer exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

STAGING_PREFIX = ".revseg-staging-"
_STAGING_NAME = re.compile(re.escape(STAGING_PREFIX) + r"(\d+)-")


def _process_alive(pid: int) -> bool:
    """True when a process ``pid`` exists (or may exist: it belongs to another user)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def staging_owner(path: Path) -> int | None:
    """The process id recorded in a staging folder's name, or None when ``path`` is not a staging folder."""
    match = _STAGING_NAME.match(path.name)
    return int(match.group(1)) if match else None


def remove_stale_staging(folder: Path) -> list[Path]:
    """Remove the staging folders in ``folder`` whose run is gone (killed or crashed).

    Args:
        folder: a folder runs stage into (an output folder's parent).

    Returns:
        The folders removed.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        pid = staging_owner(entry)
        if pid is None or _process_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        if not entry.exists():
            removed.append(entry)
            log.info("removed %s, left by an interrupted run (process %d)", entry, pid)
    return removed


def _plain(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:40] or "run"


def make_staging(folder: Path, what: str) -> Path:
    """Create a private staging folder in ``folder`` (after removing stale ones); the caller removes it.

    Args:
        folder: where to stage (created when missing).
        what: a short word for the name (the output's file name), so a user sees what the folder is for.
    """
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(folder)
    path = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-{_plain(what)}.", dir=folder))
    os.chmod(path, 0o700)
    return path


@contextlib.contextmanager
def staging_folder(folder: Path, what: str) -> Iterator[Path]:
    """A private staging folder in ``folder``, removed with its content when the block ends (even on error).

    Args:
        folder: where to stage.
        what: a short word for the folder's name.
    """
    path = make_staging(folder, what)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
