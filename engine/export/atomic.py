"""Atomic, no-surprise file writes: a temporary file in the target folder, then ``os.replace``.

A reader never sees a half-written file, a crash leaves no partial output (the temporary file is removed),
and an existing file is only replaced when the caller passed ``force``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.errors import OutputExistsError

log = logging.getLogger(__name__)


def _current_umask() -> int:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def publish_mode(path: Path) -> None:
    """Give a temporary file or folder the permissions a normal write would (mkstemp makes them private).

    Args:
        path: the temporary file or folder about to be renamed into place.
    """
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_current_umask())


def check_writable(path: Path, force: bool, force_hint: str = "--force") -> None:
    """Refuse to overwrite ``path`` unless ``force``.

    Args:
        path: file or folder about to be written.
        force: whether replacing an existing one is allowed.
        force_hint: how the user allows it, named in the message.

    Raises:
        OutputExistsError: the path exists and ``force`` is False.
    """
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass {force_hint} to overwrite it")


@contextlib.contextmanager
def atomic_path(path: str | Path, force: bool = False, force_hint: str = "--force") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``, on error removed.

    Args:
        path: the final file.
        force: allow replacing an existing file.
        force_hint: how the user allows overwriting, for the message.
    """
    path = Path(path)
    check_writable(path, force, force_hint)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffixes (.nii.gz) so writers that look at the name pick the right format.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        publish_mode(temporary_path)
        os.replace(temporary_path, path)
        log.debug("wrote %s", path)
    finally:
        temporary_path.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, content: bytes, force: bool = False) -> Path:
    """Write ``content`` to ``path`` atomically.

    Args:
        path: the final file.
        content: bytes to write.
        force: allow replacing an existing file.
    """
    with atomic_path(path, force) as temporary:
        temporary.write_bytes(content)
    return Path(path)


@contextlib.contextmanager
def atomic_folder(folder: str | Path, force: bool = False, force_hint: str = "--force") -> Iterator[Path]:
    """Yield a temporary folder next to ``folder``; on success it replaces ``folder``, on error it is removed.

    Args:
        folder: the final folder (e.g. a DICOM series folder).
        force: allow replacing an existing folder.
        force_hint: how the user allows overwriting, for the message.
    """
    folder = Path(folder)
    check_writable(folder, force, force_hint)
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        yield temporary
        publish_mode(temporary)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(temporary, folder)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)


def write_with(path: str | Path, writer: Callable[[Path], object], force: bool = False) -> Path:
    """Run ``writer(temporary_path)`` and move the result onto ``path`` atomically.

    Args:
        path: the final file.
        writer: writes the file it is given.
        force: allow replacing an existing file.
    """
    with atomic_path(path, force) as temporary:
        writer(temporary)
    return Path(path)
