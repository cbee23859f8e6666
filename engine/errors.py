"""Exceptions of the engine that a user can act on, each with a one-line message.

Every input or output problem is a ``ValueError`` subclass, so the CLI prints ``revseg: error: <message>``
and exits with code 2, and the GUI shows the message in a dialog. A cancelled operation is not an error of
the input and derives from ``RuntimeError`` instead.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as a long step advances."""

CancelCheck = Callable[[], bool]
"""``cancel()``: returns True when the user asked to stop; long steps poll it and raise ``OperationCancelled``."""


class CaseError(ValueError):
    """Bad input for a case, with a one-line message a user can act on."""


class DicomInputError(CaseError):
    """A DICOM folder or series that cannot be used (no MR series, broken geometry, ...)."""


class AmbiguousInputError(CaseError):
    """Several series or files could be one modality and nothing says which one to use."""


class GeometryError(CaseError):
    """Volumes whose geometry cannot be combined (fields of view that do not overlap, sheared grids, ...)."""


class ExportError(ValueError):
    """An export that cannot be written (bad label map, missing source series, ...)."""


class OutputExistsError(ExportError):
    """An output file already exists and overwriting was not allowed."""


class OperationCancelled(RuntimeError):
    """The user cancelled a long step through its cancel callback."""


def check_cancel(cancel: CancelCheck | None, stage: str) -> None:
    """Raise ``OperationCancelled`` when ``cancel`` says so.

    Args:
        cancel: the caller's cancel check, or None.
        stage: what was running, for the message.
    """
    if cancel is not None and cancel():
        raise OperationCancelled(f"cancelled during {stage}")


def report(progress: ProgressCallback | None, stage: str, done: int, total: int) -> None:
    """Call ``progress`` when the caller gave one.

    Args:
        progress: the caller's progress callback, or None.
        stage: name of the step.
        done: units finished.
        total: units in all.
    """
    if progress is not None:
        progress(stage, done, total)
