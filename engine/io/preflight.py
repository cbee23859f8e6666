"""Everything a ``segment`` run checks before any work, without importing torch (a rejection is quick).

The output paths (label NIfTI, JSON sidecar, DICOM-SEG, the T1ce DICOM copy) are resolved and checked against
each other, against existing files (unless forced) and against the inputs; the inputs are planned from their
headers and held to the memory and geometry budget (``engine.io.budget``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from engine.errors import CancelCheck, OutputExistsError, ProgressCallback
from engine.io.headers import check_plan
from engine.io.inputs import InputPlan, plan_inputs
from engine.io.output_paths import (
    check_output_collisions,
    check_outputs_clear_of_inputs,
    existing_input_paths,
    planned_files,
)


def sidecar_path(out_nifti: Path) -> Path:
    """``OUT.nii.gz`` -> ``OUT.json``."""
    name = out_nifti.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return out_nifti.with_name(name[: -len(suffix)] + ".json")
    return out_nifti.with_name(name + ".json")


def segment_targets(out_nifti: Path, dicom_seg: Path | None) -> dict[str, Path]:
    """Every output of a segment run: kind -> path."""
    targets = {"nifti": out_nifti, "json": sidecar_path(out_nifti)}
    if dicom_seg is not None:
        targets["dicom-seg"] = dicom_seg
        targets["t1ce-dicom"] = dicom_seg.with_name(dicom_seg.name.removesuffix(".dcm") + "_t1ce_dicom")
    return targets


def preflight_segment(
    input_path: str | Path | None,
    overrides: Mapping[str, str | Path | None] | None,
    targets: Mapping[str, Path],
    *,
    force: bool = False,
    memory_limit_gb: float | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> InputPlan:
    """Check the outputs and plan the inputs (headers only); return the plan.

    Args:
        input_path: case folder, or None when ``overrides`` names all four contrasts.
        overrides: role -> file / series.
        targets: from ``segment_targets``.
        force: existing outputs may be replaced.
        memory_limit_gb: the budget's limit (None: environment or default).
        progress: forwarded to the DICOM scan.
        cancel: forwarded to the DICOM scan.

    Raises:
        OutputExistsError: colliding, existing (without ``force``) or input-overwriting outputs.
        CaseError: inputs that cannot be planned or exceed the budget.
    """
    check_output_collisions(targets)
    check_outputs_clear_of_inputs(targets, existing_input_paths(input_path, overrides))
    for kind in ("nifti", "json", "dicom-seg"):
        if kind in targets and targets[kind].exists() and not force:
            raise OutputExistsError(f"{targets[kind]} already exists; pass --force to overwrite it")
    plan = plan_inputs(input_path, overrides, progress=progress, cancel=cancel)
    check_outputs_clear_of_inputs(targets, planned_files(plan))
    check_plan(plan, memory_limit_gb)
    return plan
