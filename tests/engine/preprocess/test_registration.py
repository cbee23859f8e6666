"""Rigid registration recovers a known transform across contrasts (Mattes MI) within 1 mm and 1 degree."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from engine.errors import GeometryError, OperationCancelled
from engine.geometry import resample
from engine.preprocess.registration import (
    FINEST_ENV,
    RegistrationConfig,
    default_workers,
    euler_from_summary,
    levels,
    register_rigid,
    register_rigid_all,
    registration_threads,
    thick_slices,
)
from tests.engine.synthetic_cases import LPS_AXES, grid_from, head

GRID = grid_from((44, 52, 40), (2.0, 2.0, 2.0), LPS_AXES)
SCALE = 2.5  # a head of 85 x 105 x 75 mm, about an adult brain


def known_transform() -> sitk.Euler3DTransform:
    truth = sitk.Euler3DTransform()
    truth.SetCenter((-2.0, 3.0, 4.0))  # LPS of the head centre
    truth.SetRotation(*np.radians([6.0, -4.0, 5.0]))
    truth.SetTranslation((4.0, -3.0, 2.5))
    return truth


def worst_error_mm(found: sitk.Transform, truth: sitk.Transform) -> float:
    """Largest distance between where the two transforms send points of the brain."""
    points = np.argwhere(head(GRID, scale=SCALE) > 0)[::50]
    world = (GRID.affine @ np.c_[points, np.ones(len(points))].T).T[:, :3] * [-1, -1, 1]
    return max(np.linalg.norm(np.subtract(found.TransformPoint(tuple(p)), truth.TransformPoint(tuple(p)))) for p in world)


def test_recovers_a_known_rigid_transform_across_contrasts() -> None:
    truth = known_transform()
    fixed = head(GRID, "t1ce", scale=SCALE)
    # moving(x) = T2 anatomy at truth^-1(x): registration must find truth (fixed point -> moving point).
    moving = resample(head(GRID, "t2", scale=SCALE), GRID, GRID, truth.GetInverse(), "linear")
    stages = []
    result = register_rigid((fixed, GRID), (moving, GRID), progress=lambda s, d, t: stages.append((d, t)))
    assert worst_error_mm(result.transform, truth) < 1.0
    found = np.degrees(result.transform.GetParameters()[:3])
    assert np.abs(found - [6.0, -4.0, 5.0]).max() < 1.0
    assert stages[-1] == (3, 3)
    rebuilt = euler_from_summary(result.summary())
    assert worst_error_mm(rebuilt, result.transform) < 1e-4


def test_cancel_stops_the_optimiser() -> None:
    fixed = head(GRID, "t1ce")
    with pytest.raises(OperationCancelled, match="register"):
        register_rigid((fixed, GRID), (fixed, GRID), cancel=lambda: True)


def three_moving_contrasts() -> dict[str, tuple[np.ndarray, object]]:
    truth = known_transform()
    return {role: (resample(head(GRID, role, scale=SCALE), GRID, GRID, truth.GetInverse(), "linear"), GRID)
            for role in ("t1", "t2", "flair")}


def test_side_by_side_registrations_match_one_after_another() -> None:
    fixed, moving = (head(GRID, "t1ce", scale=SCALE), GRID), three_moving_contrasts()
    stages: list[tuple[str, int, int]] = []
    together = register_rigid_all(fixed, moving, RegistrationConfig(workers=3),
                                  progress=lambda s, d, t: stages.append((s, d, t)))
    alone = register_rigid_all(fixed, moving, RegistrationConfig(workers=1))
    assert list(together) == list(alone) == ["t1", "t2", "flair"]
    for role in moving:
        assert worst_error_mm(together[role].transform, known_transform()) < 1.0
        # ITK's multi-threaded metric sums are not bit-reproducible even run to run: agree to 0.01 mm
        assert worst_error_mm(together[role].transform, alone[role].transform) < 0.01
        assert (f"register {role}", 3, 3) in stages


def test_a_failed_registration_raises_its_own_error_not_the_others_cancellation() -> None:
    fixed = (head(GRID, "t1ce", scale=SCALE), GRID)
    moving = three_moving_contrasts() | {"t2": (np.zeros(GRID.shape, np.float32), GRID)}  # a blank series
    with pytest.raises(GeometryError, match=r"rigid registration failed \(register t2\): a volume is blank"):
        register_rigid_all(fixed, moving, RegistrationConfig(workers=3))


def test_cancel_stops_side_by_side_registrations() -> None:
    fixed = (head(GRID, "t1ce", scale=SCALE), GRID)
    with pytest.raises(OperationCancelled, match="register"):
        register_rigid_all(fixed, three_moving_contrasts(), RegistrationConfig(workers=3), cancel=lambda: True)


def test_worker_count_is_checked_and_defaults_to_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="registration workers"):
        RegistrationConfig(workers=-1)
    monkeypatch.delenv("REVSEG_REGISTRATION_WORKERS", raising=False)
    assert 1 <= default_workers() <= 3
    monkeypatch.setenv("REVSEG_REGISTRATION_WORKERS", "2")
    assert default_workers() == 2
    monkeypatch.setenv("REVSEG_REGISTRATION_WORKERS", "0")
    with pytest.raises(ValueError, match="REVSEG_REGISTRATION_WORKERS must be a whole number >= 1, got '0'"):
        default_workers()


def test_registration_threads_are_itks_unless_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REVSEG_REGISTRATION_THREADS", raising=False)
    assert registration_threads() == 0  # ITK's default
    monkeypatch.setenv("REVSEG_REGISTRATION_THREADS", " 5 ")
    assert registration_threads() == 5
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv("REVSEG_REGISTRATION_THREADS", bad)
        with pytest.raises(ValueError, match=f"REVSEG_REGISTRATION_THREADS must be a whole number >= 1, got '{bad}'"):
            registration_threads()


def test_levels_finer_than_the_finest_spacing_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FINEST_ENV, raising=False)
    thick, iso = (0.9, 0.9, 5.0), (1.0, 1.0, 1.0)
    assert levels(RegistrationConfig(), thick) == ((4, 2), (2.0, 1.0))  # 0.9 mm in-plane: full resolution skipped
    assert levels(RegistrationConfig(), (2.0, 2.0, 5.0)) == ((4, 2, 1), (2.0, 1.0, 0.0))  # 2 mm voxels: coarse enough
    assert levels(RegistrationConfig(finest_spacing_mm=0), thick) == ((4, 2, 1), (2.0, 1.0, 0.0))
    assert levels(RegistrationConfig(finest_spacing_mm=100), thick) == ((4,), (2.0,))  # the coarsest level always runs
    assert levels(RegistrationConfig(), iso) == ((4, 2, 1), (2.0, 1.0, 0.0))  # 1 mm volumes: every level
    assert levels(RegistrationConfig(finest_spacing_mm=1.5), iso)[0] == (4, 2)
    assert thick_slices((0.9, 0.9, 5.0)) and not thick_slices((1.0, 1.0, 1.0)) and not thick_slices((1.1, 1.1, 2.0))
    monkeypatch.setenv(FINEST_ENV, "0")
    assert levels(RegistrationConfig(), thick)[0] == (4, 2, 1)
    monkeypatch.setenv(FINEST_ENV, "2")
    assert levels(RegistrationConfig(), iso)[0] == (4, 2)  # pinned: on any image
    assert levels(RegistrationConfig(finest_spacing_mm=1.5), thick)[0] == (4, 2)  # the config's own value wins
    monkeypatch.setenv(FINEST_ENV, "fine")
    with pytest.raises(ValueError, match="REVSEG_REGISTRATION_FINEST_MM must be a number of mm >= 0"):
        levels(RegistrationConfig(), (0.9, 0.9, 5.0))
    with pytest.raises(ValueError, match="finest_spacing_mm must be >= 0"):
        RegistrationConfig(finest_spacing_mm=-1)


def test_progress_counts_the_levels_that_run() -> None:
    fine = grid_from((88, 104, 80), (1.0, 1.0, 1.0), LPS_AXES)
    fixed = (head(fine, "t1ce", scale=SCALE), fine)
    moving = (head(fine, "t2", scale=SCALE), fine)
    stages: list[tuple[int, int]] = []
    register_rigid(fixed, moving, RegistrationConfig(finest_spacing_mm=1.5), lambda s, d, t: stages.append((d, t)))
    assert stages[-1] == (2, 2) and all(total == 2 for _, total in stages)
