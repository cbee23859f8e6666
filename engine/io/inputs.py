"""Decide where each of the four contrasts comes from, then read them.

``plan_inputs`` looks at an input (a NIfTI folder, a DICOM folder, or nothing) and the user's per-modality
overrides and returns an ``InputPlan`` without reading pixel data, so a GUI can show the guesses and their
confidence and ask the user to confirm. ``load_inputs`` reads the planned volumes.

An override may be a NIfTI file, a folder holding one DICOM series, or (with a DICOM input folder) a
SeriesInstanceUID, a SeriesNumber or a SeriesDescription of a series in that folder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import (
    AmbiguousInputError,
    CancelCheck,
    CaseError,
    DicomInputError,
    ProgressCallback,
    check_cancel,
)
from engine.io.budget import memory_limit
from engine.io.dicom_scan import DicomSeries, scan_dicom_folder
from engine.io.dicom_volume import read_dicom_series
from engine.io.guess import ROLES, RoleGuess
from engine.io.headers import check_plan
from engine.io.native import InputSource, NativeImage
from engine.io.nifti_input import find_nifti_inputs, is_nifti_name, read_nifti_volume
from engine.side_by_side import run_side_by_side, usable_cores

log = logging.getLogger(__name__)

USER_CHOICE = RoleGuess(None, 1.0, "chosen by the user")


@dataclass(frozen=True)
class Choice:
    """The source of one modality: a NIfTI file or a DICOM series."""

    role: str
    guess: RoleGuess
    nifti: Path | None = None
    series: DicomSeries | None = None

    @property
    def label(self) -> str:
        return self.nifti.name if self.nifti is not None else self.series.label  # type: ignore[union-attr]


@dataclass(frozen=True)
class InputPlan:
    """What ``load_inputs`` will read.

    Attributes:
        choices: role -> chosen source, for the roles that could be settled.
        candidates: role -> every DICOM series that could be that role (for the GUI to offer).
        series: all DICOM series found (empty for NIfTI input).
        problems: one line per role that could not be settled (missing or ambiguous); empty when complete.
        input_path: the input folder, or None when every modality was named explicitly.
    """

    choices: dict[str, Choice]
    candidates: dict[str, list[DicomSeries]] = field(default_factory=dict)
    series: list[DicomSeries] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    input_path: Path | None = None


def _folder_kind(folder: Path) -> str:
    """'nifti' when the folder holds NIfTI files at its top level, else 'dicom'."""
    if not folder.is_dir():
        raise CaseError(f"{folder} is not a folder; give a folder of NIfTI files or of DICOM series")
    if not any(True for _ in folder.rglob("*")):
        raise CaseError(f"{folder} is empty; it must hold NIfTI files or DICOM series")
    return "nifti" if any(is_nifti_name(p) for p in folder.iterdir() if p.is_file()) else "dicom"


def _override_choice(role: str, value: str | Path, series: list[DicomSeries], input_path: Path | None) -> Choice:
    """Resolve one ``--t1ce VALUE`` style override."""
    path = Path(value)
    if path.is_file() and is_nifti_name(path):
        return Choice(role, RoleGuess(role, 1.0, "chosen by the user"), nifti=path)
    if path.exists():
        found = [s for s in scan_dicom_folder(path if path.is_dir() else path.parent) if s.modality == "MR"]
        if path.is_file():
            found = [s for s in found if path in s.files]
        if len(found) != 1:
            raise DicomInputError(f"--{role} {value}: expected one MR series there, found {len(found)}")
        return Choice(role, RoleGuess(role, 1.0, "chosen by the user"), series=found[0])
    text = str(value).strip()
    matches = [s for s in series if text in (s.series_uid, str(s.series_number))] or [
        s for s in series if s.description.lower() == text.lower()
    ]
    if len(matches) != 1:
        where = f"in {input_path}" if input_path else "(no DICOM input folder given)"
        what = "no file, folder or series" if not matches else f"{len(matches)} series"
        raise CaseError(f"--{role} {value}: {what} with that path, UID, number or description {where}")
    return Choice(role, RoleGuess(role, 1.0, "chosen by the user"), series=matches[0])


def _dicom_choices(series: list[DicomSeries], roles: list[str]) -> tuple[dict, dict, list[str]]:
    """Pick one MR series per role from the guesses; report missing and ambiguous roles."""
    choices, candidates, problems = {}, {}, []
    for role in roles:
        found = [s for s in series if s.guess.role == role]
        found.sort(key=lambda s: -s.guess.confidence)
        candidates[role] = found
        if not found:
            problems.append(f"missing modality {role}: no MR series looks like {role}")
        elif len(found) > 1 and found[1].guess.confidence >= found[0].guess.confidence - 0.05:
            problems.append(
                f"{len(found)} candidate {role.upper() if role == 'flair' else role} series: "
                + ", ".join(s.label for s in found[:3]) + f"; choose one with --{role} SERIES_NUMBER"
            )
        else:
            choices[role] = Choice(role, found[0].guess, series=found[0])
    return choices, candidates, problems


def plan_inputs(
    input_path: str | Path | None,
    overrides: Mapping[str, str | Path | None] | None = None,
    *,
    strict: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> InputPlan:
    """Decide the source of each modality without reading pixel data.

    Args:
        input_path: a folder of NIfTI files or of DICOM series (scanned recursively), or None when all four
            modalities are given in ``overrides``.
        overrides: role -> NIfTI file, DICOM series folder, or series UID / number / description.
        strict: raise on the first missing or ambiguous modality; False returns them in ``plan.problems``.
        progress: forwarded to the DICOM scan.
        cancel: forwarded to the DICOM scan.

    Raises:
        CaseError (or its subclasses ``AmbiguousInputError``, ``DicomInputError``) with a one-line message.
    """
    overrides = {r: v for r, v in (overrides or {}).items() if v not in (None, "")}
    unknown = set(overrides) - set(ROLES)
    if unknown:
        raise CaseError(f"unknown modality {sorted(unknown)[0]!r}; use t1, t1ce, t2 or flair")
    folder = Path(input_path) if input_path is not None else None
    kind = _folder_kind(folder) if folder is not None else "none"
    series = scan_dicom_folder(folder, progress, cancel) if kind == "dicom" else []
    if kind == "dicom" and not any(s.modality == "MR" for s in series):
        what = "no DICOM files" if not series else "no MR series (found " + ", ".join(s.label for s in series[:3]) + ")"
        raise DicomInputError(f"{folder} holds {what}; give a folder with the MR series of the study")
    choices = {role: _override_choice(role, value, series, folder) for role, value in overrides.items()}
    remaining = [r for r in ROLES if r not in choices]
    candidates: dict[str, list[DicomSeries]] = {}
    problems: list[str] = []
    if kind == "nifti" and remaining:
        found = find_nifti_inputs(folder, tuple(remaining))  # type: ignore[arg-type]
        choices |= {r: Choice(r, found[r][1], nifti=found[r][0]) for r in remaining if r in found}
        problems = [f"missing modality {r}: no NIfTI file in {folder} looks like {r}" for r in remaining if r not in found]
    elif kind == "dicom" and remaining:
        picked, candidates, problems = _dicom_choices(series, remaining)
        choices |= picked
    elif remaining:
        problems = [f"missing modality {r}: give it with --{r} FILE" for r in remaining]
    if strict and problems:
        error = AmbiguousInputError if "candidate" in problems[0] else CaseError
        raise error(problems[0])
    return InputPlan(choices, candidates, series, problems, folder)


def load_inputs(
    plan: InputPlan, progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
    memory_limit_gb: float | None = None, workers: int = 0,
) -> dict[str, NativeImage]:
    """Read the planned volumes (T1, T1ce, T2, FLAIR order), after checking the headers against the budget.

    Args:
        plan: from ``plan_inputs``; must have no problems.
        progress: called as ``progress("load <role>", files_done, files_total)``.
        cancel: polled between and inside reads.
        memory_limit_gb: memory limit of the header budget (``engine.io.budget``; None: environment or default).
        workers: contrasts read side by side (0: ``read_workers()``).
    """
    if plan.problems:
        raise CaseError(plan.problems[0])
    check_plan(plan, memory_limit_gb)
    with memory_limit(memory_limit_gb):
        return _read_planned(plan, progress, cancel, workers or read_workers())


def read_workers() -> int:
    """Contrasts read side by side on this machine: one per two usable cores, at most 4.

    Inflating gzip NIfTI (zlib) releases the GIL, so threads overlap on a workstation's many cores; a 2-core
    machine reads one contrast at a time, as before.
    """
    return max(1, min(len(ROLES), usable_cores() // 2))


def _read_planned(plan: InputPlan, progress: ProgressCallback | None, cancel: CancelCheck | None,
                  workers: int = 1) -> dict[str, NativeImage]:
    def read(role: str, step_progress: ProgressCallback, stop: CancelCheck) -> NativeImage:
        check_cancel(stop, "loading")
        return read_choice(plan.choices[role], role, step_progress if progress else None, stop)

    return run_side_by_side(ROLES, read, workers, progress, cancel, "revseg-read")


def read_choice(choice: Choice, role: str, progress: ProgressCallback | None,
                cancel: CancelCheck | None) -> NativeImage:
    """Read one planned contrast: its NIfTI file or its DICOM series (``progress("load <role>", ...)`` per file)."""
    if choice.nifti is not None:
        return read_nifti_volume(choice.nifti, role, choice.guess)
    series = choice.series
    source = InputSource("dicom", series.files, series.description, series.series_uid,  # type: ignore[union-attr]
                         choice.guess.confidence, choice.guess.reason)
    step = (lambda stage, done, total: progress(f"load {role}", done, total)) if progress else None
    return read_dicom_series(series, role, source, step, cancel)  # type: ignore[arg-type]
