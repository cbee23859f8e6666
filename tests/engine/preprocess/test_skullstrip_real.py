"""Measurements of the template skull strip on the real cases (slow: one affine registration per case).

The real cases are already skull-stripped, so two measurements are possible: (1) the template mask carried
onto each case's (stripped) T1 against the case's own brain mask, which bounds how well a 12-parameter template
fit can follow a real brain; (2) the same on a *simulated* head: the real brain wrapped in CSF, skull and a
bright scalp layer with background noise (``engine.bench.native_study.simulated_head``, T1 layers). No real
head with skull is available here (nilearn's MNI152 2009c template is brain-only), so (2) is a stand-in, reported
as such in docs/input-and-export.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bench.native_study import simulated_head
from engine.case import load_case_folder
from engine.geometry import Grid
from engine.metrics import dice
from engine.preprocess.skullstrip import (
    deepbet_available,
    deepbet_brain_mask,
    detect_skull_stripped,
    nonzero_brain_mask,
    template_brain_mask,
)

CASES = ("TCGA-DU-7294", "AURORA-example", "BraTS-GLI-00001-000")


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_template_mask_dice_on_real_cases(real_data: Path, name: str) -> None:
    case = load_case_folder(real_data / name)
    grid = Grid(case.shape, case.affine)
    brain = nonzero_brain_mask([v.data for v in case.volumes.values()])
    t1 = case.volumes["t1"].data
    assert detect_skull_stripped(t1, grid).stripped
    on_stripped = dice(template_brain_mask(t1, grid), brain)
    head = simulated_head(t1, brain)
    assert not detect_skull_stripped(head, grid).stripped
    on_simulated_head = dice(template_brain_mask(head, grid), brain)
    print(f"{name}: template mask Dice {on_stripped:.4f} on the stripped T1, {on_simulated_head:.4f} on a simulated head")
    assert on_stripped >= 0.94  # measured 0.952-0.965
    assert on_simulated_head >= 0.65  # measured 0.71-0.75: poor; see the recommendation in the docs


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_deepbet_mask_dice_on_real_cases(real_data: Path, name: str) -> None:
    """deepbet, the method prepare_case uses, against the template: measured 0.97-0.99 stripped, 0.95-0.98 head."""
    case = load_case_folder(real_data / name)
    grid = Grid(case.shape, case.affine)
    brain = nonzero_brain_mask([v.data for v in case.volumes.values()])
    t1 = case.volumes["t1"].data
    on_stripped = dice(deepbet_brain_mask(t1, grid), brain)
    on_simulated_head = dice(deepbet_brain_mask(simulated_head(t1, brain), grid), brain)
    print(f"{name}: deepbet Dice {on_stripped:.4f} on the stripped T1, {on_simulated_head:.4f} on a simulated head")
    assert on_stripped >= 0.95
    assert on_simulated_head >= 0.94


def test_deepbet_is_the_method_prepare_uses() -> None:
    assert deepbet_available()
