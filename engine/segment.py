"""One-click segmentation: a case in, a BraTS label map on the native T1ce grid out (plus SEG and sidecar).

Stages (each timed): load the weights, prepare the case (``engine.prepare``: registration, skull strip,
normalisation into a temporary folder), infer (``engine.inference.Predictor`` over the brain's bounding box),
post-process (``engine.inference.postprocess``), export (``engine.export``). Exports are written under hidden
temporary names and renamed into place at the end, so a failed or cancelled run leaves no file.

Batch mode over a folder of cases is ``engine.segment_dataset``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import LoadedCheckpoint, load_model
from engine.errors import CancelCheck, ProgressCallback, check_cancel, report
from engine.export import AlgorithmInfo, ExportSettings, export_segmentation
from engine.export.atomic import check_writable, write_bytes_atomic
from engine.export.sidecar import postprocessing_record
from engine.geometry import grown_box
from engine.inference.postprocess import (
    PostprocessConfig,
    label_volumes_ml,
    labels_from_regions,
    labels_from_softmax,
    postprocess,
)
from engine.inference.predictor import Predictor, PredictorConfig, use_all_cores
from engine.io.guess import ROLES
from engine.io.inputs import InputPlan
from engine.io.preflight import preflight_segment, segment_targets, sidecar_path  # noqa: F401 - sidecar_path re-exported
from engine.labels import to_brats2020
from engine.lesions import lesion_table
from engine.prepare import PrepareConfig, prepare_case, skull_strip_device
from engine.prepared import PreparedCase
from engine.staging import staging_folder

log = logging.getLogger(__name__)

BUNDLED_WEIGHTS = Path(__file__).resolve().parent.parent / "resources" / "weights" / "revseg-demo.safetensors"
DEMO_NOTICE = "NOT FOR CLINICAL USE (demo weights)"
CROP_MARGIN = 8


@dataclass(frozen=True)
class SegmentResult:
    """What ``segment_case`` did.

    Attributes:
        case_id: the case's name.
        files: kind -> written path ("nifti", "json", optionally "dicom-seg" and "t1ce-dicom").
        device: the device inference finally ran on.
        tile: tile edge used; batch: tiles per forward.
        timings_s: stage -> seconds (load, prepare, infer, postprocess, export, total).
        volumes_ml: NCR, ED, ET, TC, WT on the native grid.
        lesions: whole-tumour components of at least 0.1 mL (the lesion table's count; smaller ones are small foci).
        demo: the weights are demo weights (not for clinical use).
        et_suppressed: small-ET suppression turned the ET into necrosis.
        weights: the weights file's name.
        removed_components: whole-tumour components below the minimum lesion volume that were removed.
        et_components_relabelled: ET components below the minimum ET component volume turned into necrosis.
        registration_skipped: contrasts found on the T1ce's grid, whose registration was skipped.
        edge_components_removed: core-free components on the brain mask's edge removed (skull-strip remnants).
        prepare_stages_s: the prepare stage's parts (load, register, resample, skull strip, normalise) -> seconds.
    """

    case_id: str
    files: dict[str, Path]
    device: str
    tile: int
    batch: int
    timings_s: dict[str, float]
    volumes_ml: dict[str, float]
    lesions: int
    demo: bool
    et_suppressed: bool = False
    weights: str = ""
    removed_components: int = 0
    et_components_relabelled: int = 0
    registration_skipped: tuple[str, ...] = ()
    edge_components_removed: int = 0
    prepare_stages_s: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [f"case {self.case_id}: {self.files.get('nifti')}",
                 f"device {self.device} (tile {self.tile}, batch {self.batch}); weights {self.weights}",
                 "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings_s.items()),
                 *(["prepare: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.prepare_stages_s.items())]
                   if self.prepare_stages_s else []),
                 *([f"registration skipped for {', '.join(self.registration_skipped)} (already on the T1ce's grid)"]
                   if self.registration_skipped else []),
                 "volumes (mL): " + ", ".join(f"{k} {self.volumes_ml[k]:.2f}" for k in ("ET", "TC", "WT", "ED", "NCR")),
                 f"lesions: {self.lesions}" + self._postprocessing_note()]
        if self.demo:
            lines.append(DEMO_NOTICE)
        return "\n".join(lines)

    def _postprocessing_note(self) -> str:
        """What post-processing changed, for the lesions line ("" when nothing)."""
        notes = [f"{self.removed_components} small component(s) removed" if self.removed_components else "",
                 f"{self.et_components_relabelled} small ET component(s) given the label around them"
                 if self.et_components_relabelled else "",
                 f"{self.edge_components_removed} core-free component(s) on the brain's edge removed"
                 if self.edge_components_removed else "",
                 "small ET suppressed to necrosis" if self.et_suppressed else ""]
        return "".join(f"; {note}" for note in notes if note)


@dataclass
class Segmenter:
    """A loaded network with its predictor, reused across cases (batch mode)."""

    network: torch.nn.Module
    checkpoint: LoadedCheckpoint
    predictor: Predictor
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

    @property
    def demo(self) -> bool:
        """Demo weights: the training summary or the extra metadata says ``"demo": true``."""
        meta = [self.checkpoint.training, self.checkpoint.metadata.get("extra")]
        return any(isinstance(m, Mapping) and bool(m.get("demo")) for m in meta)

    @property
    def channels(self) -> tuple[str, ...]:
        """Input order of the contrasts: the checkpoint's ``normalization["channels"]``, else t1, t1ce, t2, flair."""
        norm = self.checkpoint.normalization
        return tuple(norm["channels"]) if isinstance(norm, Mapping) and "channels" in norm else ROLES


def resolve_weights(weights: str | Path | None) -> Path:
    """The weights file: the given one, or the bundled default.

    Raises:
        ValueError: no file given and no bundled weights, or the given file is missing.
    """
    if weights is None:
        if not BUNDLED_WEIGHTS.is_file():
            raise ValueError(f"no bundled weights exist yet ({BUNDLED_WEIGHTS.name}); pass --weights FILE "
                             "(train one with the trainer)")
        return BUNDLED_WEIGHTS
    path = Path(weights)
    if not path.is_file():
        raise ValueError(f"weights file {path} does not exist")
    return path


def load_segmenter(weights: str | Path | None = None, config: PredictorConfig | None = None,
                   postprocess_config: PostprocessConfig | None = None) -> Segmenter:
    """Load and verify the weights and build the predictor.

    Args:
        weights: checkpoint file, or None for the bundled default.
        config: predictor settings (device, tile, overlap, TTA ...).
        postprocess_config: post-processing thresholds.
    """
    path = resolve_weights(weights)
    network, checkpoint = load_model(path, "cpu")
    if checkpoint.config.in_channels != len(ROLES):
        raise ValueError(f"{path.name} expects {checkpoint.config.in_channels} input channels; RevSeg segments "
                         f"from the {len(ROLES)} contrasts {', '.join(ROLES)}")
    predictor = Predictor(network, config or PredictorConfig())
    if predictor.device.type == "cpu":
        use_all_cores()
    return Segmenter(network, checkpoint, predictor, postprocess_config or PostprocessConfig())


def brain_box(mask: np.ndarray) -> tuple[slice, ...]:
    """Bounding box of the brain with a margin (the whole volume when the mask is empty)."""
    return grown_box(mask, CROP_MARGIN) or tuple(slice(0, s) for s in mask.shape)


def _infer_labels(segmenter: Segmenter, prepared: PreparedCase, progress: ProgressCallback | None,
                  cancel: CancelCheck | None) -> np.ndarray:
    """Working-space label map (before post-processing): predict inside the brain box, background elsewhere."""
    box = brain_box(prepared.brain_mask)
    image = np.stack([prepared.volumes[role][box] for role in segmenter.channels]).astype(np.float32)
    logits = segmenter.predictor.predict(image, progress, cancel).numpy()
    head = segmenter.checkpoint.config.head
    if head == "softmax":
        cropped = labels_from_softmax(logits)
    else:
        cropped = labels_from_regions(1 / (1 + np.exp(-logits)), segmenter.postprocess.threshold)
    label = np.zeros(prepared.brain_mask.shape, np.uint8)
    label[box] = cropped
    # Nothing outside the brain. This also holds on the native grid the export maps to: a native voxel takes a
    # tumour label only where that label's interpolated weight beats the background's, i.e. where the brain
    # mask, mapped the same way, has weight > 1/2 (nearest neighbour: trivially). Tested in
    # tests/engine/inference/test_segment.py.
    label[~prepared.brain_mask] = 0
    return label


def _export(segmenter: Segmenter, prepared: PreparedCase, label: np.ndarray, targets: dict[str, Path],
            staging: Path, force: bool, records: Mapping[str, object], cancel: CancelCheck | None) -> dict[str, Path]:
    """Export into ``staging``, add ``records`` (sidecar key -> entry) to the sidecar, then rename into ``targets``."""
    formats = ("nifti", "json") + (("dicom-seg",) if "dicom-seg" in targets else ())
    algorithm = AlgorithmInfo(weights_sha256=segmenter.checkpoint.sha256, weights_name=segmenter.checkpoint.path.name)
    result = export_segmentation(prepared, label, staging, ExportSettings(formats=formats, algorithm=algorithm),
                                 cancel=cancel)
    moves = {kind: targets[kind] for kind in result.files}
    sidecar = json.loads(result.files["json"].read_text(encoding="utf-8"))
    sidecar["outputs"] = {kind: str(path) for kind, path in moves.items()}
    sidecar |= records
    if segmenter.demo:
        sidecar["disclaimer"] = f"research software; {DEMO_NOTICE}"
    write_bytes_atomic(result.files["json"], (json.dumps(sidecar, indent=2) + "\n").encode("utf-8"), force=True)
    check_cancel(cancel, "export")  # the last point a run can stop: nothing is in place yet
    # the NIfTI goes last: batch mode treats an existing NIfTI as a finished case
    for kind, source in sorted(result.files.items(), key=lambda item: item[0] == "nifti"):
        target = moves[kind]
        if target.exists() and force:
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        check_writable(target, force)
        os.replace(source, target)
    return moves


def segment_case(
    input_path: str | Path | None,
    overrides: Mapping[str, str | Path | None] | None,
    out_nifti: str | Path,
    *,
    weights: str | Path | None = None,
    dicom_seg: str | Path | None = None,
    device: str = "auto",
    tta: bool = False,
    tile: int | None = None,
    overlap: float = 0.5,
    force: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    segmenter: Segmenter | None = None,
    compile: bool = False,
    postprocess_config: PostprocessConfig | None = None,
    memory_limit_gb: float | None = None,
    plan: InputPlan | None = None,
    cpu_backend: str = "auto",
    check_content: bool = True,
) -> SegmentResult:
    """Segment one case end to end and write the label map on the native T1ce grid.

    Args:
        input_path: case folder (NIfTI or DICOM), or None when ``overrides`` names all four contrasts.
        overrides: role -> file / series for t1, t1ce, t2, flair (win over the guesses).
        out_nifti: output label NIfTI (``.nii.gz``); the JSON sidecar goes next to it (``.json``).
        weights: checkpoint file; None means the bundled default weights.
        dicom_seg: also write a DICOM-SEG here.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        tta: mirroring test-time augmentation.
        tile: tile edge in voxels (None: chosen from memory / 128).
        overlap: tile overlap fraction.
        force: overwrite existing outputs.
        progress: ``progress(stage, done, total)``.
        cancel: polled between steps and tiles; a cancelled run writes nothing.
        segmenter: an already loaded network (batch mode); overrides weights, device, tta, tile, overlap, compile,
            cpu_backend and postprocess_config.
        compile: ``torch.compile`` the network on CUDA (``PredictorConfig.compile``: faster per case after tens
            of seconds of compilation; for batch runs).
        postprocess_config: threshold, minimum lesion and ET volumes (None: ``PostprocessConfig()``'s defaults).
        memory_limit_gb: memory limit of the inputs' header budget (``engine.io.budget``; None: the
            REVSEG_MEMORY_LIMIT_GB environment variable, else the default).
        plan: the inputs as ``engine.io.preflight.preflight_segment`` planned and checked them for these
            outputs (the CLI checks before importing torch); None plans and checks here.
        cpu_backend: the network's runner on the CPU: "auto", "onnxruntime" or "eager"
            (``PredictorConfig.cpu_backend``).
        check_content: refuse contrasts that cannot be a brain MRI (``PrepareConfig.check_content``).

    Raises:
        ValueError (CaseError, OutputExistsError ...) for bad input; OperationCancelled when cancelled.
    """
    start = time.perf_counter()
    out_nifti = Path(out_nifti)
    targets = segment_targets(out_nifti, Path(dicom_seg) if dicom_seg else None)
    if plan is None:
        plan = preflight_segment(input_path, overrides, targets, force=force, memory_limit_gb=memory_limit_gb,
                                 progress=progress, cancel=cancel)
    timings: dict[str, float] = {}
    if segmenter is None:
        config = PredictorConfig(tile=tile, overlap=overlap, device=device, tta=tta, compile=compile,
                                 cpu_backend=cpu_backend)
        segmenter = load_segmenter(weights, config, postprocess_config)
    timings["load"] = time.perf_counter() - start
    created = _make_parent(out_nifti.parent)
    try:
        return _segment_prepared(plan, out_nifti, targets, segmenter, timings, start, force,
                                 progress, cancel,
                                 PrepareConfig(memory_limit_gb=memory_limit_gb, check_content=check_content,
                                               skull_strip_device=skull_strip_device(str(segmenter.predictor.device))))
    except BaseException:
        if created is not None and not any(created.iterdir()):
            created.rmdir()  # a failed run leaves no trace, not even an empty folder
        raise


def _make_parent(folder: Path) -> Path | None:
    """Create ``folder`` (and parents); return the top-most folder created, or None."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing[-1] if missing else None


def _lesion_count(native: np.ndarray, spacing: tuple[float, float, float]) -> int:
    """Lesions as the sidecar, the report and the GUI's lesion table count them: whole-tumour components of at
    least the table's minimum volume (0.1 mL) on the native grid; smaller specks are small foci, not lesions."""
    return len(lesion_table(to_brats2020(native), spacing).lesions)


def _segment_prepared(plan: InputPlan, out_nifti: Path, targets: dict[str, Path], segmenter: Segmenter,
                      timings: dict[str, float], start: float, force: bool, progress: ProgressCallback | None,
                      cancel: CancelCheck | None, prepare_config: PrepareConfig) -> SegmentResult:
    """The stages after loading: prepare, infer, post-process, export (into a hidden temporary folder)."""
    with staging_folder(out_nifti.parent, out_nifti.name) as temporary:
        mark = time.perf_counter()
        prepared = prepare_case(plan.input_path, temporary / "prepared", config=prepare_config, progress=progress,
                                cancel=cancel, outputs=targets, plan=plan, publish=False)  # in memory: nothing reads it back
        timings["prepare"], mark = time.perf_counter() - mark, time.perf_counter()
        label = _infer_labels(segmenter, prepared, progress, cancel)
        timings["infer"], mark = time.perf_counter() - mark, time.perf_counter()
        processed = postprocess(label, prepared.space.grid.voxel_volume_ml, segmenter.postprocess,
                                prepared.brain_mask, prepared.space.grid.spacing)
        timings["postprocess"], mark = time.perf_counter() - mark, time.perf_counter()
        check_cancel(cancel, "export")
        attempt = segmenter.predictor.last_attempt
        record = segmenter.predictor.run_record() | {
            "input_shape": list(prepared.space.grid.shape), "working_volumes_ml": processed.volumes_ml,
            "timings_s": {k: round(v, 3) for k, v in timings.items()}}
        records = {"inference": record, "postprocessing": postprocessing_record(segmenter.postprocess, processed)}
        files = _export(segmenter, prepared, processed.label, targets, Path(temporary) / "export", force, records,
                        cancel)
        native = nib_label(files["nifti"])
        timings["export"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - start
    report(progress, "done", 1, 1)
    voxel_ml = prepared.space.native.voxel_volume_ml
    return SegmentResult(prepared.case_id, files, str(attempt.device), attempt.tile, attempt.batch,
                         {k: round(v, 2) for k, v in timings.items()}, label_volumes_ml(native, voxel_ml),
                         _lesion_count(native, prepared.space.native.spacing), segmenter.demo, processed.et_suppressed, segmenter.checkpoint.path.name,
                         processed.removed_components, processed.et_components_relabelled,
                         skipped_registrations(prepared.manifest), processed.edge_components_removed,
                         dict(prepared.manifest.get("timings_s", {})))


def skipped_registrations(manifest: Mapping[str, object]) -> tuple[str, ...]:
    """The contrasts whose registration was skipped because they share the T1ce's grid (from the provenance)."""
    records = manifest.get("registration", {})
    return tuple(role for role, record in records.items()  # type: ignore[union-attr]
                 if isinstance(record, Mapping) and record.get("reason") == "same grid as t1ce")


def nib_label(path: Path) -> np.ndarray:
    """The written label map, read back (the summary's volumes are those of the file on disk)."""
    import nibabel as nib

    return np.asarray(nib.load(str(path)).dataobj).astype(np.uint8)
