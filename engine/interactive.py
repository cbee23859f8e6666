"""Segmentation and export for an interactive viewer (the GUI), free of Qt.

The viewer shows a ``Case`` on the closest-canonical RAS+ voxel grid of its T1ce. ``load_study`` builds such a
case from any input ``engine.io.plan_inputs`` accepts (a NIfTI folder, NIfTI files, a DICOM folder, with the
user's role assignments). ``segment_for_viewer`` runs the engine's pipeline (``engine.prepare`` for
registration and skull strip, the segmenter's ``Predictor`` tile by tile, ``engine.inference.postprocess``)
and returns the label map and a voxel-wise uncertainty map on the viewer's grid. ``engine.viewer_export`` writes
what the viewer shows.

Progress is reported as ``progress(stage, done, total)`` with the stages of ``STAGES``; ``cancel`` is polled
between steps and tiles and raises ``OperationCancelled``. A cancelled or failed run writes nothing (the
prepared case lives in a temporary folder).
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import nibabel as nib
import numpy as np

from engine.case import Case, Volume
from engine.errors import CancelCheck, ProgressCallback, check_cancel, report
from engine.export.sidecar import postprocessing_record
from engine.geometry import Grid, resample, resample_labels
from engine.inference.postprocess import (
    label_volumes_ml,
    labels_from_regions,
    labels_from_softmax,
    postprocess,
)
from engine.io.guess import ROLES
from engine.io.inputs import load_inputs, plan_inputs
from engine.partial_study import load_available
from engine.prepare import PrepareConfig, prepare_case, skull_strip_device
from engine.prepared import PreparedCase
from engine.segment import Segmenter, brain_box

log = logging.getLogger(__name__)

STAGES = ("loading", "registration", "skull strip", "tiles", "post-processing")


def viewer_stage(stage: str) -> str:
    """The viewer's name of an engine progress stage (one of ``STAGES``, else the engine's name)."""
    if stage.startswith(("load", "scan", "read")):
        return "loading"
    if stage.startswith(("register", "resample")):
        return "registration"
    if "skull" in stage:
        return "skull strip"
    if stage == "infer":
        return "tiles"
    return stage


def canonical_grid(grid: Grid) -> Grid:
    """The closest-canonical RAS+ grid of ``grid`` (same voxels, axes permuted and flipped, as nibabel does)."""
    orientation = nib.orientations.io_orientation(grid.affine)
    affine = grid.affine @ nib.orientations.inv_ornt_aff(orientation, grid.shape)
    shape = [0, 0, 0]
    for axis, (target, _) in enumerate(orientation):
        shape[int(target)] = int(grid.shape[axis])
    return Grid(tuple(shape), affine)  # type: ignore[arg-type]


def viewer_grid(case: Case) -> Grid:
    """The grid the viewer shows ``case`` on."""
    return Grid(case.shape, case.affine)


# --- opening a study ------------------------------------------------------------------------------------
def load_study(input_path: str | Path | None, overrides: Mapping[str, str | Path | None] | None = None, *,
               progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
               partial: bool = False) -> Case:
    """Read a study's four contrasts onto the T1ce's canonical RAS+ grid for display.

    Contrasts on other grids are resampled there by scanner coordinates (no registration: that happens when
    segmenting). Each volume's ``source`` is its NIfTI file or the first file of its DICOM series, which
    ``plan_inputs`` accepts again as an override (see ``study_overrides``).

    Args:
        input_path: a folder of NIfTI files or DICOM series, or None when ``overrides`` names all four.
        overrides: role -> NIfTI file, DICOM series folder or file, or series UID / number / description.
        progress: ``progress(stage, done, total)``.
        cancel: polled between files.
        partial: read a study with one to three contrasts too (for viewing; segmentation needs all four). The
            grid is the T1ce's, else the first contrast's.

    Raises:
        CaseError (a ValueError) with a one-line message for bad input; OperationCancelled.
    """
    plan = plan_inputs(input_path, overrides, strict=not partial, progress=progress, cancel=cancel)
    report(progress, "load", 0, 1)
    images = load_available(plan, progress, cancel) if partial else load_inputs(plan, progress, cancel)
    report(progress, "load", 1, 1)
    reference = images["t1ce"] if "t1ce" in images else next(iter(images.values()))
    grid = canonical_grid(reference.grid)
    volumes = {}
    for index, role in enumerate(images):
        check_cancel(cancel, "loading")
        report(progress, "resample for display", index, len(images))
        image = images[role]
        data = resample(image.data, image.grid, grid).astype(np.float32, copy=False)
        volumes[role] = Volume(role, np.ascontiguousarray(data), grid.affine.copy(), Path(image.source.paths[0]))
    folder = plan.input_path or Path(reference.source.paths[0]).parent
    case = Case(_study_id(reference.source.description, folder), folder, volumes, None,
                reference.grid.affine.copy(), tuple(reference.grid.axcodes))  # type: ignore[arg-type]
    log.info("opened study %s (%s) on a %s grid", case.case_id, folder, case.shape)
    return case


def _study_id(t1ce_description: str, folder: Path) -> str:
    """The T1ce file's name before its modality token, else the folder's name; filesystem-safe."""
    stem = re.sub(r"\.nii(\.gz)?$", "", t1ce_description, flags=re.I)
    base = re.split(r"[_\-.](?=[^_\-.]*$)", stem)[0] if stem != t1ce_description and re.search(r"[_\-.]", stem) else ""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base or folder.name).strip("-.") or "case"


def study_overrides(case: Case) -> dict[str, Path]:
    """Role -> source file of each contrast of ``case``: enough for ``plan_inputs`` to find them again."""
    missing = [role for role in ROLES if role not in case.volumes]
    if missing:
        raise ValueError(f"case {case.case_id} lacks {', '.join(missing)}; segmentation needs all four contrasts")
    return {role: Path(case.volumes[role].source) for role in ROLES}


# --- segmentation ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ViewerSegmentation:
    """A segmentation on the viewer's grid.

    Attributes:
        label: uint8 BraTS 2020 label map on the case's grid.
        uncertainty: float32 map in [0, 1] on the case's grid (normalised entropy of the network outputs).
        volumes_ml: NCR, ED, ET, TC, WT in mL (on the case's grid).
        timings_s: stage -> seconds (prepare, infer, post-processing, mapping, total).
        device: device inference ran on; tiles: tiles of the sliding window.
        demo: the weights are demo weights; weights_name / weights_sha256 identify them.
        prepared: provenance of the run (manifest, native T1ce grid, DICOM headers) without the volumes.
        record: the inference record for the export sidecar.
        postprocessing: the post-processing record for the export sidecar (settings and what they changed).
    """

    label: np.ndarray = field(repr=False)
    uncertainty: np.ndarray = field(repr=False)
    volumes_ml: dict[str, float]
    timings_s: dict[str, float]
    device: str
    tiles: int
    demo: bool
    weights_name: str
    weights_sha256: str
    prepared: PreparedCase = field(repr=False)
    record: dict[str, object] = field(default_factory=dict, repr=False)
    postprocessing: dict[str, object] = field(default_factory=dict, repr=False)


def normalised_entropy(probabilities: np.ndarray, head: str) -> np.ndarray:
    """Voxel-wise uncertainty in [0, 1] of network probabilities (C, D, H, W).

    Region head (sigmoids ET, TC, WT): mean binary entropy of the three regions over ln 2. Softmax head:
    entropy of the class distribution over ln(C). 0 = certain, 1 = a coin toss.

    Args:
        probabilities: sigmoid or softmax outputs.
        head: "regions" (any head but "softmax") or "softmax".
    """
    p = np.clip(probabilities.astype(np.float32, copy=False), 1e-6, 1 - 1e-6)
    if head == "softmax":
        entropy = -(p * np.log(p)).sum(axis=0) / np.log(p.shape[0])
    else:
        entropy = (-(p * np.log(p) + (1 - p) * np.log1p(-p))).mean(axis=0) / np.log(2.0)
    return np.clip(entropy, 0.0, 1.0).astype(np.float32)


def _network_input(segmenter: Segmenter, prepared: PreparedCase) -> tuple[np.ndarray, tuple[slice, ...]]:
    """The network's input (channels stacked, float32) inside the brain box, and the box."""
    box = brain_box(prepared.brain_mask)
    return np.stack([prepared.volumes[role][box] for role in segmenter.channels]).astype(np.float32), box


def _predict(segmenter: Segmenter, prepared: PreparedCase, inputs: list[np.ndarray], box: tuple[slice, ...],
             progress: ProgressCallback | None, cancel: CancelCheck | None) -> tuple[np.ndarray, np.ndarray]:
    """Working-space label map and uncertainty: predict inside the brain box, background elsewhere.

    Args:
        inputs: a one-element list holding the network input; it is emptied once the network has run, so that
            the input is freed before the probability maps are made (a list: the caller keeps no reference).
    """
    logits = segmenter.predictor.predict(inputs.pop(), progress, cancel).numpy()
    head = segmenter.checkpoint.config.head
    if head == "softmax":
        shifted = np.exp(logits - logits.max(axis=0, keepdims=True))
        del logits
        probabilities = shifted / shifted.sum(axis=0, keepdims=True)
        del shifted
        cropped = labels_from_softmax(probabilities)
    else:
        probabilities = 1 / (1 + np.exp(-logits))
        del logits
        cropped = labels_from_regions(probabilities, segmenter.postprocess.threshold)
    label = np.zeros(prepared.brain_mask.shape, np.uint8)
    uncertainty = np.zeros(prepared.brain_mask.shape, np.float32)
    label[box], uncertainty[box] = cropped, normalised_entropy(probabilities, head)
    label[~prepared.brain_mask] = 0  # nothing outside the brain
    uncertainty[~prepared.brain_mask] = 0
    return label, uncertainty


def _to_viewer(prepared: PreparedCase, label: np.ndarray, uncertainty: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Map working-space maps onto the viewer grid; the label goes through the native T1ce grid as exports do."""
    native = prepared.to_native(label)
    label_view = resample_labels(native, prepared.space.native, grid, "nearest")
    uncertainty_view = np.clip(resample(uncertainty, prepared.space.grid, grid, None, "linear"), 0.0, 1.0)
    return label_view.astype(np.uint8), uncertainty_view.astype(np.float32)


def segment_for_viewer(case: Case, segmenter: Segmenter, *, overrides: Mapping[str, str | Path] | None = None,
                       progress: ProgressCallback | None = None, cancel: CancelCheck | None = None) -> ViewerSegmentation:
    """Segment the case shown in the viewer; the results lie on its grid.

    Args:
        case: the case on screen (its volumes' sources are read again through ``engine.prepare``).
        segmenter: loaded weights and predictor (``engine.segment.load_segmenter``).
        overrides: role -> source, when they differ from ``study_overrides(case)``.
        progress: ``progress(stage, done, total)`` with the stages of ``STAGES``.
        cancel: polled between steps and tiles; raises ``OperationCancelled``.
    """
    start = time.perf_counter()
    staged = (lambda stage, done, total: progress(viewer_stage(stage), done, total)) if progress else None
    sources = dict(overrides) if overrides is not None else study_overrides(case)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="revseg-viewer-") as temporary:
        # The viewer checked the content when the case opened and asked before segmenting (gui/review/content_warning)
        prepared = prepare_case(None, Path(temporary) / "prepared", sources, progress=staged, cancel=cancel,
                                config=PrepareConfig(check_content=False,
                                                     skull_strip_device=skull_strip_device(str(segmenter.predictor.device))),
                                publish=False)  # in memory: nothing reads the folder back
    timings["prepare"], mark = time.perf_counter() - start, time.perf_counter()
    image, box = _network_input(segmenter, prepared)
    # The contrasts are in the network input now: drop the working-space volumes before the tiles run
    # (4 x 36 MB for a BraTS case), and let _predict free the input itself after the network (memory, issue 17).
    prepared = replace(prepared, volumes={})
    inputs = [image]
    del image
    label, uncertainty = _predict(segmenter, prepared, inputs, box, staged, cancel)
    timings["infer"], mark = time.perf_counter() - mark, time.perf_counter()
    check_cancel(cancel, "post-processing")
    report(progress, "post-processing", 0, 2)
    processed = postprocess(label, prepared.space.grid.voxel_volume_ml, segmenter.postprocess, prepared.brain_mask,
                            prepared.space.grid.spacing)
    report(progress, "post-processing", 1, 2)
    grid = viewer_grid(case)
    label_view, uncertainty_view = _to_viewer(prepared, processed.label, uncertainty, grid)
    report(progress, "post-processing", 2, 2)
    timings["post-processing"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - start
    attempt = segmenter.predictor.last_attempt
    record = segmenter.predictor.run_record() | {"input_shape": list(prepared.space.grid.shape),
                                                 "timings_s": {k: round(v, 3) for k, v in timings.items()}}
    light = replace(prepared, volumes={}, brain_mask=np.zeros((0, 0, 0), bool))  # keep provenance, drop volumes
    log.info("segmented %s on %s in %.1f s", case.case_id, attempt.device, timings["total"])
    return ViewerSegmentation(label_view, uncertainty_view, label_volumes_ml(label_view, grid.voxel_volume_ml),
                              {k: round(v, 3) for k, v in timings.items()}, str(attempt.device),
                              segmenter.predictor.last_tiles, segmenter.demo, segmenter.checkpoint.path.name,
                              segmenter.checkpoint.sha256, light, record,
                              postprocessing_record(segmenter.postprocess, processed))
