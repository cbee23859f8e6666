"""Check a run's output paths before any work: distinct from each other, clear of the inputs.

A run writes several files (label NIfTI, JSON sidecar, DICOM-SEG, the T1ce DICOM copy folder). Two of them on
one path would overwrite each other after minutes of work, and an output on an input would destroy it; both
are knowable from the paths alone, so they are refused first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from engine.errors import OutputExistsError

# How each output is named in messages (the CLI option that sets it, or what derives it).
_DESCRIPTIONS = {
    "nifti": "the label map (-o)",
    "json": "the JSON sidecar (next to -o)",
    "dicom-seg": "the DICOM-SEG (--dicom-seg)",
    "t1ce-dicom": "the T1ce DICOM copy folder (next to --dicom-seg)",
    "out": "the output folder (--out)",
}


def _describe(kind: str, path: Path) -> str:
    return f"{_DESCRIPTIONS.get(kind, kind)} {path}"


def _within(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies inside it (both resolved)."""
    return path == folder or folder in path.parents


def check_output_collisions(targets: Mapping[str, Path]) -> None:
    """Refuse outputs that are the same path, or one inside another (a folder output holding a file output).

    Args:
        targets: output kind ("nifti", "json", "dicom-seg", "t1ce-dicom", ...) -> path.

    Raises:
        OutputExistsError: two outputs collide; the message names both and what to change.
    """
    resolved = {kind: Path(path).expanduser().resolve() for kind, path in targets.items()}
    kinds = list(resolved)
    for index, first in enumerate(kinds):
        for second in kinds[index + 1:]:
            a, b = resolved[first], resolved[second]
            if a == b or _within(a, b) or _within(b, a):
                raise OutputExistsError(
                    f"{_describe(first, targets[first])} and {_describe(second, targets[second])} "
                    f"{'are the same path' if a == b else 'overlap'}; give them different paths")
    for kind, path in resolved.items():
        if kind != "t1ce-dicom" and kind != "out" and path.is_dir():
            raise OutputExistsError(f"{_describe(kind, targets[kind])} is an existing folder; give a file path")


def check_outputs_clear_of_inputs(targets: Mapping[str, Path], inputs: Iterable[Path]) -> None:
    """Refuse an output that is an input file, or a folder output that holds an input.

    Args:
        targets: output kind -> path.
        inputs: input files and folders (NIfTI files, DICOM series files or folders, the case folder).

    Raises:
        OutputExistsError: an output would overwrite or replace an input.
    """
    resolved_inputs = [Path(p).expanduser().resolve() for p in inputs if p is not None]
    for kind, target in targets.items():
        path = Path(target).expanduser().resolve()
        for source in resolved_inputs:
            if path == source or _within(source, path):
                raise OutputExistsError(
                    f"{_describe(kind, target)} would overwrite the input {source}; write the outputs elsewhere")


def existing_input_paths(input_path: Path | None, overrides: Mapping[str, object] | None) -> list[Path]:
    """The input folder and the override values that are paths on disk (series numbers and UIDs are not)."""
    paths = [Path(input_path)] if input_path is not None else []
    for value in (overrides or {}).values():
        if value not in (None, "") and Path(str(value)).exists():
            paths.append(Path(str(value)))
    return paths


def planned_files(plan: object) -> list[Path]:
    """Every file a plan (``engine.io.inputs.InputPlan``) will read: NIfTI files and DICOM series files."""
    files: list[Path] = []
    for choice in plan.choices.values():  # type: ignore[attr-defined]
        files.extend([choice.nifti] if choice.nifti is not None else list(choice.series.files))
    return files
