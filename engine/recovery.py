"""Crash recovery of edited segmentations: a compressed .npz per case in a per-user folder, written atomically.

The folder is ``$REVSEG_RECOVERY_DIR`` when set (tests use it), else ``$XDG_DATA_HOME/revseg/recovery``
(default ``~/.local/share/revseg/recovery``). One file per case (named from the case id and a hash of its
folder), replaced on every autosave; it is removed after a successful save / export or when the user discards
the edits. At start the application looks for a file of the case it opens and offers to restore it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.editing.history import Stroke
from engine.export.atomic import atomic_path
from engine.recovery_steps import pack_strokes, unpack_strokes

log = logging.getLogger(__name__)

RECOVERY_ENV = "REVSEG_RECOVERY_DIR"
FORMAT = "revseg-recovery/1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Recovery:
    """One recovery file's content.

    Attributes:
        path: the .npz file.
        case_id: case the edits belong to.
        folder: the case's data folder.
        source: label source when saved ("edited").
        saved_at: UTC time of the autosave (ISO 8601).
        ai_label_sha256: hash of the AI result the edits started from ("" when unknown).
        label: the edited label map.
        ai_label: the AI result the edits started from (None when the file has none), for "reset to AI".
        uncertainty: the uncertainty map shown with the label (None when there was none).
        undo: the undo steps of the edits, oldest first (empty in files written before they were kept).
        redo: the redo steps.
    """

    path: Path
    case_id: str
    folder: str
    source: str
    saved_at: str
    ai_label_sha256: str
    label: np.ndarray
    ai_label: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    undo: tuple[Stroke, ...] = ()
    redo: tuple[Stroke, ...] = ()

    @property
    def saved_at_local(self) -> str:
        """The autosave time in the computer's time zone, e.g. "2026-11-30 14:05"."""
        try:
            moment = dt.datetime.fromisoformat(self.saved_at)
        except ValueError:
            return self.saved_at
        return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def recovery_dir() -> Path:
    """The per-user recovery folder (``$REVSEG_RECOVERY_DIR`` overrides it)."""
    override = os.environ.get(RECOVERY_ENV)
    if override:
        return Path(override)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "revseg" / "recovery"


def label_sha256(label: np.ndarray | None) -> str:
    """SHA-256 of a label map's bytes and shape ("" for None), to tell which AI result edits started from."""
    if label is None:
        return ""
    digest = hashlib.sha256(str(label.shape).encode())
    digest.update(np.ascontiguousarray(label).tobytes())
    return digest.hexdigest()


def recovery_path(case_id: str, folder: str | Path, directory: Path | None = None) -> Path:
    """The recovery file of a case: safe case id plus a short hash of its resolved folder."""
    folder_hash = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:12]
    name = _UNSAFE.sub("_", case_id).strip("._") or "case"
    return (directory or recovery_dir()) / f"{name}-{folder_hash}.npz"


def write_recovery(label: np.ndarray, *, case_id: str, folder: str | Path, source: str = "edited",
                   ai_label_sha256: str = "", ai_label: np.ndarray | None = None,
                   uncertainty: np.ndarray | None = None,
                   steps: tuple[Sequence[Stroke], Sequence[Stroke]] | None = None,
                   directory: Path | None = None) -> Path:
    """Save ``label`` as the case's recovery file, atomically (a crash mid-write leaves the old file).

    Args:
        label: the edited label map.
        case_id: the case's id.
        folder: the case's data folder.
        source: the label's source ("edited").
        ai_label_sha256: ``label_sha256`` of the AI result.
        ai_label: the AI result itself (compresses to little; lets a restored session still reset to it).
        uncertainty: the uncertainty map shown with the label (float; stored as float16, enough for display).
        steps: the edit session's (undo, redo) steps, restored with the label so undo still works.
        directory: recovery folder (default ``recovery_dir()``).
    """
    path = recovery_path(case_id, folder, directory)
    saved_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with atomic_path(path, force=True) as temporary, temporary.open("wb") as handle:
        extra = {} if ai_label is None else {"ai_label": ai_label}
        if uncertainty is not None:
            extra["uncertainty"] = np.asarray(uncertainty, np.float16)
        if steps is not None:
            extra |= pack_strokes("undo", steps[0]) | pack_strokes("redo", steps[1])
        np.savez_compressed(handle, label=label, format=FORMAT, **extra, case_id=case_id, folder=str(Path(folder).resolve()),
                            source=source, saved_at=saved_at, ai_label_sha256=ai_label_sha256)
    log.debug("autosaved %s to %s", case_id, path)
    return path


def load_recovery(path: str | Path) -> Recovery:
    """Read a recovery file.

    Raises:
        ValueError: the file is not a RevSeg recovery file or is damaged.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != FORMAT:
                raise ValueError(f"{path} is not a {FORMAT} file")
            fields = {key: str(data[key]) for key in ("case_id", "folder", "source", "saved_at", "ai_label_sha256")}
            ai_label = data["ai_label"].copy() if "ai_label" in data.files else None
            uncertainty = data["uncertainty"].astype(np.float32) if "uncertainty" in data.files else None
            arrays = {key: data[key] for key in data.files if key.startswith(("undo_", "redo_"))}
            return Recovery(path=path, label=data["label"].copy(), ai_label=ai_label, uncertainty=uncertainty,
                            undo=tuple(unpack_strokes("undo", arrays)), redo=tuple(unpack_strokes("redo", arrays)),
                            **fields)
    except (OSError, KeyError, EOFError, ValueError) as error:
        raise ValueError(f"cannot read the recovery file {path}: {error}") from None


def find_recovery(case_id: str, folder: str | Path, directory: Path | None = None) -> Recovery | None:
    """The recovery of this case, if a readable one exists (an unreadable one is logged and ignored)."""
    path = recovery_path(case_id, folder, directory)
    if not path.is_file():
        return None
    try:
        return load_recovery(path)
    except ValueError as error:
        log.warning("%s", error)
        return None


def list_recoveries(directory: Path | None = None) -> list[Recovery]:
    """Every readable recovery file in the folder, newest first."""
    folder = directory or recovery_dir()
    found = []
    for path in sorted(folder.glob("*.npz")) if folder.is_dir() else ():
        if path.name.startswith("."):  # a temporary file of a save that was killed midway
            continue
        try:
            found.append(load_recovery(path))
        except ValueError as error:
            log.warning("%s", error)
    return sorted(found, key=lambda record: record.saved_at, reverse=True)


def discard_recovery(case_id: str, folder: str | Path, directory: Path | None = None) -> bool:
    """Remove the case's recovery file (after a save / export or a discard); True if there was one."""
    path = recovery_path(case_id, folder, directory)
    existed = path.is_file()
    path.unlink(missing_ok=True)
    return existed
