"""The CLI's error contract: every failure is one non-empty line on stderr, and library warnings go to the log.

``error_line`` turns any exception (ours, MemoryError, pydicom, SimpleITK/ITK, torch, nibabel) into one sentence
that says what happened and what to do; it never returns an empty message and never advises loading a file
with ``weights_only=False``. ``route_warnings`` sends Python warnings (numpy overflow, pydicom, nibabel ...) to the
log, which reaches stderr only with ``-v``.
"""

from __future__ import annotations

import logging
import re
import sys

DEBUG_HINT = "rerun with REVSEG_DEBUG=1 for the details"
# Loggers of RevSeg itself; everything else (pydicom, nibabel, highdicom ...) is a library.
OWN_LOGGERS = ("engine", "trainer", "gui", "main", "revseg", "__main__")


def _first_meaningful_line(text: str) -> str:
    """The line of a multi-line library message that says what went wrong."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    # ITK: "Exception thrown in SimpleITK ...: /path/file.cxx:123:\nitk::ERROR: ...: <description>"
    itk = [line for line in lines if "itk::ERROR" in line or "ITK ERROR" in line]
    if itk:
        return re.sub(r"^.*?(itk::ERROR|ITK ERROR):\s*(\w+\s*\([^)]*\):\s*)?", "", itk[-1]).strip() or itk[-1]
    return lines[0]


def _scrub(message: str) -> str:
    """Drop unsafe advice from library messages (torch suggests weights_only=False, which runs pickled code)."""
    if "weights_only" in message:
        return "the file holds pickled Python objects, which RevSeg never loads"
    return message


_LIBRARIES = {"SimpleITK": "ITK", "pydicom": "pydicom", "torch": "torch", "nibabel": "nibabel", "numpy": "numpy",
              "PIL": "Pillow", "pylibjpeg": "pylibjpeg", "safetensors": "safetensors", "highdicom": "highdicom"}


def _library_of(error: BaseException, text: str) -> str:
    """The library that raised ``error`` ("" for RevSeg's own errors and plain Python ones)."""
    if "SimpleITK" in text or "itk::" in text:
        return "ITK"
    if "state_dict" in text:
        return "torch"
    return _LIBRARIES.get(type(error).__module__.split(".")[0], "")


def error_line(error: BaseException) -> str:
    """One line for ``error``: its message, or a sentence for errors that carry none (never empty).

    Args:
        error: the exception that ended the command.
    """
    text = str(error)
    detail = _scrub(_first_meaningful_line(text))
    if isinstance(error, MemoryError):
        return ("not enough memory" + (f" ({detail})" if detail else "") + "; the input is larger than this "
                "machine can hold: check its dimensions and voxel size, or lower --memory-limit to be refused earlier")
    library = _library_of(error, text)
    if detail and not library and len(text.strip().splitlines()) <= 1:
        return detail
    what = f"{library} failed" if library else f"unexpected {type(error).__name__}"
    return f"{what}: {detail or 'no message'}; check the input files named in the command, or {DEBUG_HINT}"


class _OwnOnly(logging.Filter):
    """Pass RevSeg's own records only: a library's errors (pydicom logs each failed decoder with its traceback)
    are summed up by the one error line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] in OWN_LOGGERS


def route_warnings(verbose: int) -> None:
    """Send Python warnings to the log; without ``-v`` neither they nor library log records reach stderr.

    Args:
        verbose: the CLI's -v count.
    """
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING)
    terminals = (sys.stderr, sys.__stderr__)
    for handler in logging.getLogger().handlers:
        if getattr(handler, "stream", None) not in terminals:
            continue  # a log file or a test's capture handler keeps every record
        for old in [f for f in handler.filters if isinstance(f, _OwnOnly)]:
            handler.removeFilter(old)
        if not verbose:
            handler.addFilter(_OwnOnly())
