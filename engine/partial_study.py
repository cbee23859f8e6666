"""Studies with one to three of the four contrasts: read what there is, for viewing and review.

``engine.io.plan_inputs(strict=False)`` reports a missing contrast as a problem; ``load_available`` reads the
contrasts that were found, and refuses only problems other than a missing contrast (two candidates for one
role, say). Segmentation still needs all four (``missing_roles`` names what is absent, for the GUI's tooltip).
"""

from __future__ import annotations

from engine.errors import CancelCheck, CaseError, ProgressCallback, check_cancel
from engine.io.dicom_volume import read_dicom_series
from engine.io.guess import ROLES
from engine.io.inputs import InputPlan
from engine.io.native import InputSource, NativeImage
from engine.io.nifti_input import read_nifti_volume

MISSING_PREFIX = "missing modality"


def load_available(plan: InputPlan, progress: ProgressCallback | None = None,
                   cancel: CancelCheck | None = None) -> dict[str, NativeImage]:
    """Read the planned contrasts that exist (T1, T1ce, T2, FLAIR order).

    Raises:
        CaseError: a problem other than a missing contrast, or no contrast at all.
    """
    blocking = [problem for problem in plan.problems if not problem.startswith(MISSING_PREFIX)]
    if blocking:
        raise CaseError(blocking[0])
    if not plan.choices:
        raise CaseError(plan.problems[0] if plan.problems else "no MRI contrast found; open a folder of NIfTI "
                        "files or DICOM series")
    images = {}
    for role in ROLES:
        check_cancel(cancel, "loading")
        choice = plan.choices.get(role)
        if choice is None:
            continue
        if choice.nifti is not None:
            images[role] = read_nifti_volume(choice.nifti, role, choice.guess)
            continue
        series = choice.series
        source = InputSource("dicom", series.files, series.description, series.series_uid,  # type: ignore[union-attr]
                             choice.guess.confidence, choice.guess.reason)
        step = (lambda stage, done, total, r=role: progress(f"load {r}", done, total)) if progress else None
        images[role] = read_dicom_series(series, role, source, step, cancel)  # type: ignore[arg-type]
    return images


def missing_roles(volumes: object) -> list[str]:
    """The contrasts of ``ROLES`` absent from ``volumes`` (a mapping role -> volume)."""
    return [role for role in ROLES if role not in volumes]  # type: ignore[operator]
