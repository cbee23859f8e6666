"""Prepare a case for the model: inputs -> co-registered, skull-stripped, normalised working-space volumes.

Steps: plan and read the inputs (NIfTI folder, DICOM folder or per-modality paths); build the working grid
from the T1ce; align T1, T2 and FLAIR rigidly to the T1ce (skipped for volumes already on the T1ce's grid,
as in BraTS data); resample into working space; skull-strip when the head is not already stripped;
z-score each contrast inside the brain; write the folder described in engine/prepared.py.

Every input problem is raised before the first byte is written, and the output folder appears in one rename,
so a failed or cancelled run leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from engine import __version__
from engine.content_check import blocking_findings
from engine.errors import (
    CancelCheck,
    CaseError,
    GeometryError,
    OutputExistsError,
    ProgressCallback,
    check_cancel,
    report,
)
from engine.export.atomic import publish_mode
from engine.geometry import SAME_GRID_TOLERANCE_MM, axis_mapping, overlap_fraction
from engine.io.guess import ROLES
from engine.io.inputs import InputPlan, load_inputs, plan_inputs
from engine.io.native import NativeImage
from engine.io.output_paths import check_outputs_clear_of_inputs, existing_input_paths, planned_files
from engine.lazy import lazy_module
from engine.prepared import (
    MANIFEST,
    MANIFEST_FORMAT,
    PreparedCase,
    brain_mask_name,
    volume_name,
    write_manifest,
)
from engine.preprocess.normalize import zscore_in_mask
from engine.preprocess.registration import RegistrationConfig, register_rigid_all
from engine.preprocess.skullstrip import (
    deepbet_available,
    deepbet_brain_mask,
    detect_skull_stripped,
    nonzero_brain_mask,
    template_brain_mask,
)
from engine.preprocess.working_space import WorkingSpace
from engine.staging import make_staging

sitk = lazy_module("SimpleITK", "preprocessing needs SimpleITK (pip install SimpleITK)")

log = logging.getLogger(__name__)

SKULL_STRIP_MODES = ("auto", "never", "always")


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of ``prepare_case``.

    Attributes:
        spacing_mm: working voxel size.
        keep_obliquity: working axes follow the T1ce's (oblique) axes, in RAS+ order; False aligns them with
            the world axes, which costs an interpolation for oblique acquisitions.
        registration: rigid registration settings.
        skull_strip: "auto" (strip when not already stripped), "never" or "always".
        min_overlap: smallest fraction of a contrast's field of view that must lie in the T1ce's before
            registration (scanner coordinates of one session); below it the inputs are refused.
        check_content: refuse contrasts that cannot be a brain MRI (a CT, a mask or label map, a constant or
            single-slice volume, a non-MR DICOM series: ``engine.content_check``); False proceeds anyway (the
            CLI's ``--allow-unusual-content``; the GUI asks the user itself).
        skull_strip_device: where the CNN skull strip (deepbet) runs: "cpu", "cuda", "cuda:N" or "mps".
            ``segment`` and the viewer pass the device the tumour network runs on.
    """

    spacing_mm: float = 1.0
    keep_obliquity: bool = True
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    skull_strip: str = "auto"
    min_overlap: float = 0.05
    memory_limit_gb: float | None = None
    check_content: bool = True
    skull_strip_device: str = "cpu"


SKULL_STRIP_DEVICE_ENV = "REVSEG_SKULL_STRIP_DEVICE"


def skull_strip_device(network_device: str) -> str:
    """Where the CNN skull strip runs: ``REVSEG_SKULL_STRIP_DEVICE`` when set (e.g. "cpu", to keep a small GPU's
    memory for the tumour network), else where the tumour network runs."""
    pinned = os.environ.get(SKULL_STRIP_DEVICE_ENV, "").strip()
    if pinned and pinned.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{SKULL_STRIP_DEVICE_ENV} must be cpu, cuda, cuda:N or mps, got {pinned!r}")
    return pinned or network_device


class StageClock:
    """Seconds per stage of a run, for the provenance and the benchmarks (``laps``: stage -> seconds)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._mark = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Close ``stage``: the time since the previous lap (or the start)."""
        now = time.perf_counter()
        self.laps[stage] = round(now - self._mark, 3)
        self._mark = now


def _check_out_dir(out_dir: Path, force: bool) -> None:
    """Refuse an output folder with content unless forced, and never replace a folder RevSeg did not write."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir} is a file; give a folder for the prepared case")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not force:
        raise OutputExistsError(f"{out_dir} already exists and is not empty; pass --force to replace it")
    if not (out_dir / MANIFEST).is_file():
        raise OutputExistsError(f"{out_dir} is not empty and is not a RevSeg prepared case; refusing to replace it "
                                "even with --force, choose another --out folder")


def _case_id(images: Mapping[str, NativeImage], input_path: Path | None) -> str:
    """The T1ce file's name before its modality token, else the input folder's name; filesystem-safe."""
    source = images["t1ce"].source
    if source.kind == "nifti":
        stem = re.sub(r"\.nii(\.gz)?$", "", source.paths[0].name, flags=re.I)
        base = re.split(r"[_\-.](?=[^_\-.]*$)", stem)[0] if re.search(r"[_\-.]", stem) else ""
    else:
        base = ""
    base = base or (input_path.name if input_path is not None else "") or "case"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-.") or "case"


def _check_overlap(image: NativeImage, reference: NativeImage, config: PrepareConfig) -> None:
    overlap = max(overlap_fraction(image.grid, reference.grid), overlap_fraction(reference.grid, image.grid))
    if overlap < config.min_overlap:
        raise GeometryError(
            f"the fields of view of {image.modality} ({image.source.description}) and t1ce "
            f"({reference.source.description}) do not overlap ({overlap:.0%}); they are not of one study or "
            "their header geometry is wrong"
        )


def _refuse_non_mri(images: Mapping[str, NativeImage]) -> None:
    """CaseError naming every contrast that cannot be a brain MRI, with what to do about it."""
    findings = [finding for role in ROLES
                for finding in blocking_findings(role, images[role].data,
                                                 images[role].dicom_headers[0] if images[role].dicom_headers else None)]
    if findings:
        problems = "; ".join(f"{finding.message} ({images[finding.modality].source.description})"
                             for finding in findings)
        raise CaseError(f"not a brain MRI: {problems}. Check the file or series chosen for each contrast; if they "
                        "are right, --allow-unusual-content segments anyway")


def _align(images: Mapping[str, NativeImage], config: PrepareConfig, progress: ProgressCallback | None,
           cancel: CancelCheck | None) -> tuple[dict[str, sitk.Transform | None], dict[str, object]]:
    """Rigid transforms T1ce-world -> modality-world, None where a modality shares the T1ce's grid."""
    reference = images["t1ce"]
    transforms: dict[str, sitk.Transform | None] = {"t1ce": None}
    records: dict[str, object] = {"t1ce": {"registered": False, "reason": "reference"}}
    pending = {}
    for role in (r for r in ROLES if r != "t1ce"):
        image = images[role]
        if image.grid.same_as(reference.grid):
            transforms[role], records[role] = None, {"registered": False, "reason": "same grid as t1ce"}
            log.info("%s is on the T1ce's grid (same shape, affine within %.0e mm): registration skipped", role,
                     SAME_GRID_TOLERANCE_MM)
            report(progress, f"register {role}: same grid as t1ce, skipped", 1, 1)
            continue
        _check_overlap(image, reference, config)
        pending[role] = (image.data, image.grid)
    check_cancel(cancel, "registration")
    results = register_rigid_all((reference.data, reference.grid), pending, config.registration, progress, cancel)
    for role, result in results.items():
        transforms[role], records[role] = result.transform, {"registered": True, **result.summary()}
    return transforms, {role: records[role] for role in ROLES}


def _resampled_brains(images: Mapping[str, NativeImage], working: Mapping[str, np.ndarray], space: WorkingSpace,
                      transforms: Mapping[str, sitk.Transform | None], roles: list[str]) -> list[np.ndarray]:
    """Each stripped contrast's nonzero region on the working grid (half-voxel rule, no interpolation fringe).

    Where the contrast maps onto the working grid by a permutation of voxels (BraTS-format data), its working
    volume is an exact copy, so its nonzero voxels are that region already: no second resampling.
    """
    return [
        working[r] != 0 if transforms[r] is None and axis_mapping(images[r].grid, space.grid) is not None
        else space.image_to_working((images[r].data != 0).astype(np.float32), images[r].grid, transforms[r]) >= 0.5
        for r in roles
    ]


def _brain_mask(images: Mapping[str, NativeImage], working: Mapping[str, np.ndarray], space: WorkingSpace,
                transforms: Mapping[str, sitk.Transform | None], config: PrepareConfig,
                progress: ProgressCallback | None, cancel: CancelCheck | None) -> tuple[np.ndarray, dict[str, object]]:
    """The brain mask on the working grid and how it was obtained (for the provenance).

    The T1ce decides (it defines the working space): when it is stripped, the brain is the nonzero region of
    the contrasts that are stripped too; any unstripped contrast is masked by it through normalisation.
    """
    if config.skull_strip not in SKULL_STRIP_MODES:
        raise ValueError(f"skull_strip must be one of {SKULL_STRIP_MODES}, got {config.skull_strip!r}")
    checks = {r: detect_skull_stripped(images[r].data, images[r].grid) for r in ROLES}
    record: dict[str, object] = {"checks": {r: asdict(c) for r, c in checks.items()}, "mode": config.skull_strip}
    if config.skull_strip == "never" or (config.skull_strip == "auto" and checks["t1ce"].stripped):
        roles = [r for r in ROLES if checks[r].stripped or config.skull_strip == "never"] or ["t1ce"]
        record["method"] = f"none (already stripped): brain = voxels nonzero in {', '.join(roles)}"
        return nonzero_brain_mask(_resampled_brains(images, working, space, transforms, roles)), record
    if deepbet_available():
        log.info("the T1ce is not skull-stripped (%s); running deepbet", checks["t1ce"].reason)
        record["method"] = "deepbet (CNN brain extraction) on the T1"
        record["device"] = config.skull_strip_device
        report(progress, "skull strip", 0, 1)
        mask = deepbet_brain_mask(working["t1"], space.grid, cancel, config.skull_strip_device)
        report(progress, "skull strip", 1, 1)
        return mask, record
    log.warning("the T1ce is not skull-stripped (%s); using the MNI152 template mask (approximate; install "
                "deepbet for a better one)", checks["t1ce"].reason)
    mask = template_brain_mask(working["t1"], space.grid, progress=progress, cancel=cancel)
    record["method"] = "MNI152 2009c template brain mask, affine registration onto T1 (approximate)"
    return mask, record


def _write_outputs(folder: Path, prepared: PreparedCase, transforms: Mapping[str, sitk.Transform | None]) -> None:
    affine = prepared.space.grid.affine
    for role in ROLES:
        nib.save(nib.Nifti1Image(prepared.volumes[role], affine), folder / volume_name(prepared.case_id, role))
    nib.save(nib.Nifti1Image(prepared.brain_mask.astype(np.uint8), affine), folder / brain_mask_name(prepared.case_id))
    for role, transform in transforms.items():
        if transform is not None:
            (folder / "transforms").mkdir(exist_ok=True)
            sitk.WriteTransform(transform, str(folder / "transforms" / f"{role}_to_t1ce.tfm"))
    write_manifest(folder / MANIFEST, prepared.manifest)


def _publish(out_dir: Path, prepared: PreparedCase, transforms: Mapping[str, sitk.Transform | None]) -> None:
    """Write into a hidden sibling folder, then swap it in with one rename."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temporary = make_staging(out_dir.parent, out_dir.name)
    try:
        _write_outputs(temporary, prepared, transforms)
        publish_mode(temporary)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(temporary, out_dir)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _input_records(images: Mapping[str, NativeImage]) -> dict[str, object]:
    records = {}
    for role, image in images.items():
        record = image.source.to_dict() | {"native_grid": image.grid.to_dict(), "axcodes": "".join(image.grid.axcodes),
                                           "spacing_mm": [round(s, 4) for s in image.grid.spacing]}
        if role == "t1ce" and image.source.kind == "dicom":
            record["slice_files"] = [str(p) for p in image.source.paths]
        records[role] = record
    return records


def prepare_case(
    input_path: str | Path | None,
    out_dir: str | Path,
    overrides: Mapping[str, str | Path | None] | None = None,
    *,
    force: bool = False,
    config: PrepareConfig | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    outputs: Mapping[str, Path] | None = None,
    plan: InputPlan | None = None,
    publish: bool = True,
) -> PreparedCase:
    """Bring a case into the model's working space and write it to ``out_dir``.

    Args:
        input_path: folder of NIfTI files or DICOM series, or None when all of t1, t1ce, t2, flair are given.
        out_dir: output folder (created; must be empty or absent unless ``force``).
        overrides: role -> NIfTI file, DICOM series folder, or series UID / number / description; these win
            over the guesses (the CLI's --t1 --t1ce --t2 --flair).
        force: replace an earlier prepared case in ``out_dir``.
        config: preprocessing settings.
        progress: ``progress(stage, done, total)`` as steps advance.
        cancel: polled during long steps; raises ``OperationCancelled``.
        outputs: the caller's final output paths (kind -> path), refused when one of them is a planned input.
        plan: an input plan the caller already made (``plan_inputs``); then ``input_path`` and ``overrides``
            are not used.
        publish: write the prepared folder (default). False returns the same `PreparedCase` without writing
            it (``out_dir`` is only checked and named in it), for callers that use it in memory and would
            delete the folder anyway: writing four float32 volumes as gzip NIfTI is seconds on a small CPU.

    Raises:
        CaseError (a ValueError) and subclasses for bad input; OutputExistsError (a ValueError) for an
        occupied ``out_dir``; OperationCancelled when cancelled.
    """
    config, out_dir = config or PrepareConfig(), Path(out_dir)
    check_outputs_clear_of_inputs({"out": out_dir}, existing_input_paths(input_path, overrides))
    _check_out_dir(out_dir, force)
    plan = plan or plan_inputs(input_path, overrides, progress=progress, cancel=cancel)
    check_outputs_clear_of_inputs({"out": out_dir, **(outputs or {})}, planned_files(plan))
    clock = StageClock()
    images = load_inputs(plan, progress, cancel, config.memory_limit_gb)
    if config.check_content:
        _refuse_non_mri(images)
    clock.lap("load")
    space = WorkingSpace.for_reference(images["t1ce"].grid, config.spacing_mm, config.keep_obliquity)
    transforms, registration = _align(images, config, progress, cancel)
    clock.lap("register")
    working = {}
    for index, role in enumerate(ROLES):
        check_cancel(cancel, "resampling")
        report(progress, "resample", index, len(ROLES))
        working[role] = space.image_to_working(images[role].data, images[role].grid, transforms[role])
    clock.lap("resample")
    mask, skull = _brain_mask(images, working, space, transforms, config, progress, cancel)
    clock.lap("skull strip")
    normalised, norms = {}, {}
    for role in ROLES:
        normalised[role], mean, std = zscore_in_mask(working[role], mask, role)
        norms[role] = {"method": "z-score inside the brain mask", "mean": round(mean, 6), "std": round(std, 6)}
    clock.lap("normalise")
    case_id = _case_id(images, plan.input_path)
    manifest = {
        "format": MANIFEST_FORMAT, "software": f"RevSeg {__version__}", "case_id": case_id,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "input": str(plan.input_path) if plan.input_path else None,
        "inputs": _input_records(images), "geometry": space.to_dict(), "registration": registration,
        "skull_strip": skull | {"brain_ml": round(float(mask.sum()) * space.grid.voxel_volume_ml, 1)},
        "normalisation": norms, "config": asdict(config), "timings_s": clock.laps,
    }
    prepared = PreparedCase(case_id, out_dir, space, normalised, mask, manifest, images["t1ce"].dicom_headers)
    check_cancel(cancel, "writing")
    if not publish:
        return prepared
    _publish(out_dir, prepared, transforms)
    log.info("prepared %s into %s (working grid %s, exact mapping: %s)", case_id, out_dir, space.grid.shape, space.exact)
    return prepared

