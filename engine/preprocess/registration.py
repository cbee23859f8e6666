"""Rigid registration of one contrast onto the T1ce: SimpleITK, Euler3D, Mattes mutual information.

Mutual information because the contrasts differ (a T2-bright lesion is T1-dark); rigid because both come
from one session of one head; multi-resolution (shrink 4, 2, 1 with smoothing) so that large initial offsets
converge. The transform maps T1ce (fixed) world points to the moving image's world points, which is the
direction ``sitk.Resample`` needs to bring the moving image onto the T1ce / working grid.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engine.errors import CancelCheck, GeometryError, OperationCancelled, ProgressCallback, report
from engine.geometry import Grid, to_sitk
from engine.lazy import lazy_module
from engine.side_by_side import run_side_by_side, usable_cores

Image = tuple[np.ndarray, Grid]

sitk = lazy_module("SimpleITK", "preprocessing needs SimpleITK (pip install SimpleITK)")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistrationConfig:
    """Settings of the rigid registration.

    Attributes:
        shrink_factors: image down-sampling per resolution level, coarse to fine.
        smoothing_mm: Gaussian smoothing per level, in mm.
        iterations: maximum optimiser iterations per level.
        learning_rate: initial step of the regular-step gradient descent (in scaled parameter units).
        histogram_bins: Mattes MI histogram bins.
        sampling_fraction: fraction of fixed voxels sampled for the metric (random, seeded).
        max_samples: cap on sampled points per level, so full-size volumes cost about what small ones do.
        seed: seed of the metric's sampler, so runs are reproducible.
        workers: registrations run side by side (T1, T2 and FLAIR onto the T1ce are independent); 0 picks
            one per two cores, at most 3 (`default_workers`), 1 runs them one after another.
        finest_spacing_mm: levels whose voxels (the fixed image's smallest spacing times the shrink factor)
            would be finer than this are skipped; 0 runs every level; None: ``REVSEG_REGISTRATION_FINEST_MM``
            when set, else ``DEFAULT_FINEST_SPACING_MM`` on thick-slice fixed images and 0 on near-isotropic ones
            (see ``THICK_SLICE_RATIO``).
    """

    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_mm: tuple[float, ...] = (2.0, 1.0, 0.0)
    iterations: int = 200
    learning_rate: float = 1.0
    histogram_bins: int = 50
    sampling_fraction: float = 0.2
    max_samples: int = 60_000
    seed: int = 17
    workers: int = 0
    finest_spacing_mm: float | None = None

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError(f"registration workers must be >= 0 (0 = automatic), got {self.workers}")
        if self.finest_spacing_mm is not None and not self.finest_spacing_mm >= 0:
            raise ValueError(f"finest_spacing_mm must be >= 0 (0 = every level), got {self.finest_spacing_mm}")


@dataclass(frozen=True)
class RigidResult:
    """A rigid registration and how it ended.

    Attributes:
        transform: Euler3D, fixed-world -> moving-world (LPS).
        metric: final Mattes MI value (more negative is better).
        stop_reason: the optimiser's stop condition.
        iterations: iterations run on the last level.
    """

    transform: sitk.Euler3DTransform
    metric: float
    stop_reason: str
    iterations: int

    def summary(self) -> dict[str, object]:
        """Angles (degrees) and translation (mm) of the transform plus the optimiser outcome, for provenance."""
        angles = np.degrees(self.transform.GetParameters()[:3])
        return {
            "type": "Euler3DTransform (fixed=t1ce world -> moving world, LPS mm)",
            "rotation_deg": [round(float(a), 8) for a in angles],
            "translation_mm": [round(float(t), 8) for t in self.transform.GetTranslation()],
            "center_mm": [round(float(c), 8) for c in self.transform.GetCenter()],
            "metric_mattes_mi": round(self.metric, 6),
            "stop_reason": self.stop_reason,
            "iterations": self.iterations,
        }


FINEST_ENV = "REVSEG_REGISTRATION_FINEST_MM"
# Thick-slice fixed images (the largest spacing more than THICK_SLICE_RATIO times the smallest, e.g. a 0.9 x 0.9 x
# 5 mm native series) skip levels finer than DEFAULT_FINEST_SPACING_MM: on the native-like studies the
# full-resolution level cost 30-50 % of each registration and did not bring the transforms closer to the truth
# (docs/benchmarks.md, issue 19). Near-isotropic fixed images (1 mm volumes) run every level: on the real-data
# motion test (TCGA T2, 1 mm onto 1.1 x 1.1 x 3 mm) the largest error over four sampler seeds was 0.84-1.01 mm with
# every level against 0.95-1.38 mm without the 1 mm level.
THICK_SLICE_RATIO = 2.0
DEFAULT_FINEST_SPACING_MM = 1.5


def thick_slices(spacing_mm: tuple[float, ...]) -> bool:
    """True for a grid whose largest spacing is more than ``THICK_SLICE_RATIO`` times its smallest."""
    return max(spacing_mm) > THICK_SLICE_RATIO * min(spacing_mm)


def finest_spacing_mm(config: RegistrationConfig, *, thick: bool) -> float:
    """The finest level spacing of ``config``: its own, else ``REVSEG_REGISTRATION_FINEST_MM``, else the default of
    a thick-slice (``thick``) or near-isotropic fixed image (0: every level)."""
    if config.finest_spacing_mm is not None:
        return config.finest_spacing_mm
    pinned = os.environ.get(FINEST_ENV, "").strip()
    if not pinned:
        return DEFAULT_FINEST_SPACING_MM if thick else 0.0
    try:
        value = float(pinned)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"{FINEST_ENV} must be a number of mm >= 0 (0 = every level), got {pinned!r}")
    return value


def levels(config: RegistrationConfig, fixed_spacing: tuple[float, ...]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Shrink factors and smoothing of the levels that run on a fixed image of ``fixed_spacing`` (mm per axis):
    those whose voxels (its smallest spacing times the shrink factor) are at least
    ``finest_spacing_mm(config, thick=thick_slices(fixed_spacing))`` coarse, and always the coarsest one."""
    finest = finest_spacing_mm(config, thick=thick_slices(fixed_spacing))
    kept = [i for i, f in enumerate(config.shrink_factors) if f * min(fixed_spacing) >= finest] or [0]
    return tuple(config.shrink_factors[i] for i in kept), tuple(config.smoothing_mm[i] for i in kept)


def _method(config: RegistrationConfig, fixed_voxels: int,
            level_settings: tuple[tuple[int, ...], tuple[float, ...]] | None = None) -> sitk.ImageRegistrationMethod:
    """The registration method of ``config`` for a fixed image of ``fixed_voxels`` voxels (no transform set), with
    the shrink factors and smoothing of ``level_settings`` (default: ``levels`` on a 1 mm grid)."""
    shrink_factors, smoothing_mm = level_settings or levels(config, (1.0, 1.0, 1.0))
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=config.histogram_bins)
    method.SetMetricSamplingStrategy(method.RANDOM)
    fractions = [min(config.sampling_fraction, config.max_samples * f**3 / fixed_voxels) for f in shrink_factors]
    method.SetMetricSamplingPercentagePerLevel(fractions, config.seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=config.learning_rate, minStep=1e-4, numberOfIterations=config.iterations,
        relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(list(shrink_factors))
    method.SetSmoothingSigmasPerLevel(list(smoothing_mm))
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    return method


def register_rigid(
    fixed: tuple[np.ndarray, Grid],
    moving: tuple[np.ndarray, Grid],
    config: RegistrationConfig = RegistrationConfig(),
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    stage: str = "register",
) -> RigidResult:
    """Find the rigid transform that aligns ``moving`` onto ``fixed``.

    Args:
        fixed: (data, grid) of the reference (the T1ce).
        moving: (data, grid) of the contrast to align.
        config: registration settings.
        progress: called as ``progress(stage, level_done, levels)``.
        cancel: polled every iteration; stops the optimiser and raises ``OperationCancelled``.
        stage: name reported to ``progress``.

    Raises:
        GeometryError: when the optimiser fails (e.g. the images share no overlap).
        OperationCancelled: when ``cancel`` returned True.
    """
    fixed_image = sitk.Cast(to_sitk(fixed[0], fixed[1].affine), sitk.sitkFloat32)
    moving_image = sitk.Cast(to_sitk(moving[0], moving[1].affine), sitk.sitkFloat32)
    if not np.any(fixed[0]) or not np.any(moving[0]):
        raise GeometryError(f"rigid registration failed ({stage}): a volume is blank (all zeros); check that the "
                            "right series was chosen for each contrast")
    initial = sitk.CenteredTransformInitializer(
        fixed_image, moving_image, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    level_settings = levels(config, tuple(fixed[1].spacing))
    method = _method(config, int(np.prod(fixed[0].shape)), level_settings)
    method.SetInitialTransform(initial, inPlace=False)
    if threads := registration_threads():
        method.SetNumberOfThreads(threads)
    level_count = len(level_settings[0])
    state = {"level": 0, "cancelled": False}

    def on_iteration() -> None:
        if cancel is not None and cancel():
            state["cancelled"] = True
            method.StopRegistration()

    def on_level() -> None:
        report(progress, stage, state["level"], level_count)
        state["level"] += 1

    method.AddCommand(sitk.sitkIterationEvent, on_iteration)
    method.AddCommand(sitk.sitkMultiResolutionIterationEvent, on_level)
    try:
        transform = method.Execute(fixed_image, moving_image)
    except RuntimeError as error:
        raise GeometryError(f"rigid registration failed ({str(error).splitlines()[-1].strip()}); "
                            "check that the volumes show the same head") from None
    if state["cancelled"]:
        raise OperationCancelled(f"cancelled during {stage}")
    report(progress, stage, level_count, level_count)
    euler = sitk.Euler3DTransform(sitk.CompositeTransform(transform).GetNthTransform(0))
    result = RigidResult(euler, float(method.GetMetricValue()), method.GetOptimizerStopConditionDescription(),
                         int(method.GetOptimizerIteration()))
    log.info("%s: rotation %s deg, translation %s mm, MI %.4f", stage, result.summary()["rotation_deg"],
             result.summary()["translation_mm"], result.metric)
    return result


def euler_from_summary(values: dict[str, object]) -> sitk.Euler3DTransform:
    """Rebuild the transform from ``RigidResult.summary()`` (as stored in the provenance)."""
    transform = sitk.Euler3DTransform()
    transform.SetCenter([float(c) for c in values["center_mm"]])  # type: ignore[union-attr]
    angles = [math.radians(float(a)) for a in values["rotation_deg"]]  # type: ignore[union-attr]
    transform.SetRotation(*angles)
    transform.SetTranslation([float(t) for t in values["translation_mm"]])  # type: ignore[union-attr]
    return transform


WORKERS_ENV = "REVSEG_REGISTRATION_WORKERS"
THREADS_ENV = "REVSEG_REGISTRATION_THREADS"


def _pinned_count(name: str) -> int | None:
    """The whole number >= 1 in the environment variable ``name``, or None when it is unset or empty."""
    pinned = os.environ.get(name, "").strip()
    if not pinned:
        return None
    if not pinned.isdigit() or int(pinned) < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {pinned!r}")
    return int(pinned)


def registration_threads() -> int:
    """ITK threads of each registration: ``REVSEG_REGISTRATION_THREADS`` when set, else 0 (ITK's default: every
    core, for each of the registrations running side by side)."""
    return _pinned_count(THREADS_ENV) or 0


def default_workers() -> int:
    """Side-by-side registrations for this machine: ``REVSEG_REGISTRATION_WORKERS`` when set, else one per two
    usable cores, at most 3.

    SimpleITK releases the GIL while it registers: with one ITK thread each, the native-like study's three
    registrations took 25.5 s one after another and 14.3 s side by side on 2 cores. With ITK's default threads on
    those 2 cores, side by side gained nothing (12.6 s against 13.1 s; the whole prepare stage 15.4 s either way),
    so a 2-core machine stays serial; a workstation's many cores are mostly idle during one registration
    (random-sampled metric on small images).
    """
    return _pinned_count(WORKERS_ENV) or max(1, min(3, usable_cores() // 2))


def register_rigid_all(
    fixed: Image,
    moving: Mapping[str, Image],
    config: RegistrationConfig = RegistrationConfig(),
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> dict[str, RigidResult]:
    """``register_rigid`` of every image in ``moving`` (role -> image) onto ``fixed``, side by side.

    Up to ``config.workers`` threads (0: `default_workers`). Stages are reported as ``register <role>``; progress
    calls are serialised. The first failure stops the other registrations, and its error is raised rather than
    their cancellation; a cancel raises ``OperationCancelled``.
    """
    workers = config.workers or default_workers()

    def run(role: str, step_progress: ProgressCallback, stop: CancelCheck) -> RigidResult:
        return register_rigid(fixed, moving[role], config, step_progress, stop, stage=f"register {role}")

    return run_side_by_side(moving, run, workers, progress, cancel, "revseg-register")
