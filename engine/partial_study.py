"""Studies with one to three of the four contrasts: read what there is, for viewing and review.

``engine.io.plan_inputs(strict=False)`` reports a missing contrast as a problem; ``load_available`` reads the
contrasts that were found, and refuses only problems other than a missing contrast (two candidates for one
role, say). Segmentation still needs all four (``missing_roles`` names what is absent, for the GUI's tooltip).
"""

from __future__ import annotations

from engine.errors import CancelCheck, CaseError, ProgressCallback, check_cancel
from engine.io.budget import memory_limit
from engine.io.guess import ROLES
from engine.io.headers import check_plan
from engine.io.inputs import InputPlan, read_choice
from engine.io.native import NativeImage

MISSING_PREFIX = "missing modality"


def load_available(plan: InputPlan, progress: ProgressCallback | None = None,
                   cancel: CancelCheck | None = None, memory_limit_gb: float | None = None) -> dict[str, NativeImage]:
    """Read the planned contrasts that exist (T1, T1ce, T2, FLAIR order), after the same header budget as a full
    study (`engine.io.headers.check_plan`).

    Raises:
        CaseError: a problem other than a missing contrast, no contrast at all, or a study over the budget.
    """
    blocking = [problem for problem in plan.problems if not problem.startswith(MISSING_PREFIX)]
    if blocking:
        raise CaseError(blocking[0])
    if not plan.choices:
        raise CaseError(plan.problems[0] if plan.problems else "no MRI contrast found; open a folder of NIfTI "
                        "files or DICOM series")
    check_plan(plan, memory_limit_gb)
    images = {}
    with memory_limit(memory_limit_gb):
        for role in ROLES:
            check_cancel(cancel, "loading")
            choice = plan.choices.get(role)
            if choice is not None:
                images[role] = read_choice(choice, role, progress, cancel)
    return images


def missing_roles(volumes: object) -> list[str]:
    """The contrasts of ``ROLES`` absent from ``volumes`` (a mapping role -> volume)."""
    return [role for role in ROLES if role not in volumes]  # type: ignore[operator]
