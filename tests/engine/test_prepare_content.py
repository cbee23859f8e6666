"""prepare_case refuses contrasts that cannot be a brain MRI (the command line's and batch runs' content check;
the GUI asks the user itself), such as a CT; --allow-unusual-content proceeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.content_check import _few_values, blocking_findings, check_volume
from engine.errors import CaseError
from engine.prepare import PrepareConfig, prepare_case
from tests.engine.synthetic_cases import LPS_AXES, grid_from, head, write_nifti, write_nifti_case

ROLES = ("t1", "t1ce", "t2", "flair")
GRID = grid_from((40, 44, 36), (1, 1, 1), LPS_AXES)
REPO_ROOT = Path(__file__).resolve().parents[2]


def case_with(folder: Path, role: str, data: np.ndarray) -> Path:
    """A BraTS-like case whose ``role`` contrast is replaced by ``data``."""
    write_nifti_case(folder, {m: GRID for m in ROLES}, {m: f"P7_{m}.nii.gz" for m in ROLES})
    write_nifti(folder / f"P7_{role}.nii.gz", data, GRID)
    return folder


def ct_like(grid=GRID) -> np.ndarray:
    """Hounsfield units with scanner noise: air -1000 around a soft-tissue head with a bone rim."""
    brain = head(grid, "t1ce") > 0
    values = np.full(grid.shape, -1000.0, np.float32)
    values[brain] = 40.0
    values[brain & ~np.roll(brain, 3, axis=0)] = 1200.0
    return values + np.random.default_rng(0).normal(0, 15, grid.shape).astype(np.float32)


def test_a_ct_given_as_a_contrast_is_refused_with_advice(tmp_path: Path) -> None:
    # (label maps and constant volumes are refused earlier, when the inputs are read: engine.io.budget)
    case = case_with(tmp_path / "in", "t1ce", ct_like())
    with pytest.raises(CaseError, match="not a brain MRI") as refused:
        prepare_case(case, tmp_path / "out")
    message = str(refused.value)
    assert "CT Hounsfield units" in message and "P7_t1ce.nii.gz" in message and "--allow-unusual-content" in message
    assert not (tmp_path / "out").exists()


def test_told_to_proceed_it_prepares_the_case_anyway(tmp_path: Path) -> None:
    case = case_with(tmp_path / "in", "t1ce", ct_like())
    prepared = prepare_case(case, tmp_path / "out", config=PrepareConfig(check_content=False))
    assert prepared.space.grid.shape == GRID.shape


def test_an_mri_case_passes_and_the_check_keeps_its_findings() -> None:
    assert all(blocking_findings(role, head(GRID, role)) == [] for role in ROLES)
    assert [f.kind for f in blocking_findings("t1", np.zeros((64, 64, 3)))] == ["too-thin"]
    # the head-shape warning belongs to the full check only
    scattered = np.zeros(GRID.shape, np.float32)
    scattered[::6, ::6, ::6] = np.arange(scattered[::6, ::6, ::6].size).reshape(scattered[::6, ::6, ::6].shape) + 1
    assert blocking_findings("t1", scattered) == []
    assert [f.kind for f in check_volume("t1", scattered)] == ["not-head-shaped"]


@pytest.mark.parametrize("values", [[3.0], [0.0, 1.0], [0.0, 2.0, 4.0], [0.0, 1.0, 2.0, 4.0], list(range(50))])
def test_few_values_agree_with_numpy_unique(values: list[float]) -> None:
    data = np.random.default_rng(0).choice(np.array(values, np.float32), size=(20, 20, 20))
    expected = np.unique(data)
    found = _few_values(data, 3)
    assert found == (expected.tolist() if expected.size <= 3 else None)


@pytest.mark.slow
def test_cli_prepare_refuses_then_proceeds_when_allowed(tmp_path: Path) -> None:
    case = case_with(tmp_path / "in", "t1ce", ct_like())
    command = [sys.executable, str(REPO_ROOT / "main.py"), "prepare", str(case), "--out", str(tmp_path / "out")]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert "not a brain MRI" in refused.stderr and "--allow-unusual-content" in refused.stderr
    allowed = subprocess.run([*command, "--allow-unusual-content"], capture_output=True, text=True, timeout=300)
    assert allowed.returncode == 0, allowed.stderr
    assert (tmp_path / "out").is_dir()
