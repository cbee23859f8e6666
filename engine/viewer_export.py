"""Export for an interactive viewer (the GUI), free of Qt: the shown label map as NIfTI or DICOM-SEG, each with
the provenance sidecar, through ``engine.export``; the written files are then read back as a self-check
(``self_check``), whose one-line summary the viewer shows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import nibabel as nib
import numpy as np

from engine.case import Case
from engine.errors import CancelCheck, ExportError, ProgressCallback
from engine.export import AlgorithmInfo, ExportSettings, export_segmentation
from engine.export.atomic import write_bytes_atomic
from engine.interactive import ViewerSegmentation, viewer_grid
from engine.prepared import PreparedCase, prepared_from_case
from engine.preprocess.working_space import WorkingSpace
from engine.segment import DEMO_NOTICE, Segmenter

log = logging.getLogger(__name__)

EXPORT_KINDS = ("nifti", "dicom-seg")


@dataclass(frozen=True)
class SelfCheck:
    """What reading the written files back found.

    Attributes:
        ok: every check passed.
        frames: frames in the SEG (expected: source slices x segments); 0 without a SEG.
        segments: segment labels described in the SEG.
        voxels: label value -> voxel count in the files read back (NIfTI and SEG agree when ok).
        problems: one line per failed check.
    """

    ok: bool
    frames: int
    segments: tuple[str, ...]
    voxels: dict[int, int]
    problems: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for the status bar."""
        if not self.ok:
            return "self-check FAILED: " + "; ".join(self.problems)
        counts = ", ".join(f"label {k}: {v}" for k, v in sorted(self.voxels.items()))
        frames = f"{self.frames} frames, {len(self.segments)} segments, " if self.frames else ""
        return f"self-check passed: {frames}{counts} voxels read back"


@dataclass(frozen=True)
class ViewerExport:
    """An export's files and the result of reading them back."""

    files: dict[str, Path]
    check: SelfCheck


def _export_prepared(case: Case, run: ViewerSegmentation | None) -> PreparedCase:
    """A prepared case whose working grid is the viewer's grid, carrying the run's provenance when there is one."""
    if run is None:
        return prepared_from_case(case)  # a label without a run: NIfTI case, exact reorientation
    space = WorkingSpace(run.prepared.space.native, viewer_grid(case))
    manifest = dict(run.prepared.manifest) | {"viewer_grid": space.grid.to_dict()}
    return replace(run.prepared, space=space, manifest=manifest)


def export_for_viewer(case: Case, label: np.ndarray, out_dir: str | Path, kind: str, *, source: str = "ai",
                      run: ViewerSegmentation | None = None, segmenter: Segmenter | None = None, force: bool = False,
                      progress: ProgressCallback | None = None, cancel: CancelCheck | None = None,
                      ai_label: np.ndarray | None = None, stem: str = "",
                      measurements: dict[str, object] | None = None) -> ViewerExport:
    """Write the shown label map as NIfTI or DICOM-SEG (each with the JSON sidecar) and read it back.

    Args:
        case: the case on screen.
        label: BraTS label map on the case's grid.
        out_dir: folder for ``CASE_seg.nii.gz`` / ``CASE_seg.dcm`` and ``CASE_seg.json``.
        kind: "nifti" or "dicom-seg".
        source: "ai", "edited" or "file"; "edited" marks the SEG segments SEMIAUTOMATIC.
        run: the segmentation the label came from (provenance, device, timings), or None.
        segmenter: the weights used (their name and SHA-256 go into the SEG and the sidecar), or None.
        force: replace existing files.
        progress: forwarded to ``engine.export``; cancel: polled between steps.
        ai_label: the AI result an edited map started from: the sidecar then records AI vs edited volumes and
            their Dice, and a map that differs from it is marked SEMIAUTOMATIC.
        stem: file name of the exports without suffix ("" for ``CASE_seg``).
        measurements: the viewer's measurements record for the sidecar (lesion table, corrected RANO).

    Raises:
        ExportError / OutputExistsError (ValueErrors) with a one-line message.
    """
    if kind not in EXPORT_KINDS:
        raise ExportError(f"unknown export {kind!r}; use one of {', '.join(EXPORT_KINDS)}")
    if tuple(label.shape) != tuple(case.shape):
        raise ExportError(f"the label map has shape {tuple(label.shape)}, the case {tuple(case.shape)}")
    name = segmenter.checkpoint.path.name if segmenter else (run.weights_name if run else "")
    sha = segmenter.checkpoint.sha256 if segmenter else (run.weights_sha256 if run else "")
    edited = source == "edited"
    settings = ExportSettings(formats=(kind, "json"), edited=edited, algorithm=AlgorithmInfo(weights_sha256=sha,
                              weights_name=name), creator="RevSeg^Edited" if edited else "RevSeg^Automatic",
                              stem=stem)
    prepared = _export_prepared(case, run)
    result = export_segmentation(prepared, label, out_dir, settings, force=force, progress=progress, cancel=cancel,
                                 ai_label_working=ai_label, measurements=measurements)
    _annotate_sidecar(result.files["json"], source, run, segmenter)
    check = self_check(result.files, result.label_native)
    (log.info if check.ok else log.error)("export %s: %s", kind, check.summary())
    return ViewerExport(result.files, check)


def _annotate_sidecar(path: Path, source: str, run: ViewerSegmentation | None, segmenter: Segmenter | None) -> None:
    """Add where the label came from, the inference and post-processing records and the demo notice to the sidecar."""
    sidecar = json.loads(path.read_text(encoding="utf-8"))
    sidecar["label_source"] = source
    if run is not None:
        sidecar["inference"] = run.record
        if run.postprocessing:
            sidecar["postprocessing"] = run.postprocessing
    if (segmenter is not None and segmenter.demo) or (run is not None and run.demo):
        sidecar["disclaimer"] = f"research software; {DEMO_NOTICE}"
    write_bytes_atomic(path, (json.dumps(sidecar, indent=2) + "\n").encode("utf-8"), force=True)


def _label_counts(label: np.ndarray) -> dict[int, int]:
    return {int(v): int(n) for v, n in zip(*np.unique(label, return_counts=True), strict=True) if v != 0}


def self_check(files: Mapping[str, Path], expected_native: np.ndarray) -> SelfCheck:
    """Read the written NIfTI and / or DICOM-SEG back and compare them with the exported label map.

    Args:
        files: kind -> path as written by ``engine.export``.
        expected_native: the exported label map on the native T1ce grid (BraTS 2020 labels).
    """
    expected, problems = _label_counts(expected_native), []
    if "nifti" in files:
        read = np.asarray(nib.load(str(files["nifti"])).dataobj)
        if read.shape != expected_native.shape or not np.array_equal(read, expected_native):
            problems.append("the NIfTI read back differs from the exported label map")
    frames, segments = 0, ()
    if "dicom-seg" in files:
        frames, segments, counts, seg_problems = _read_seg(files["dicom-seg"])
        problems += seg_problems
        if counts != expected:
            problems.append(f"the SEG holds voxel counts {counts}, the label map {expected}")
    return SelfCheck(not problems, frames, segments, expected, tuple(problems))


def _read_seg(path: Path) -> tuple[int, tuple[str, ...], dict[int, int], list[str]]:
    """Frames, segment labels, per-label voxel counts and structural problems of a written SEG."""
    import pydicom

    from engine.export.dicom_seg import SEGMENT_LABELS

    ds, problems = pydicom.dcmread(path), []
    numbers = {int(s.SegmentNumber): str(s.SegmentLabel) for s in ds.SegmentSequence}
    value_of = {number: value for number, value in enumerate(SEGMENT_LABELS, start=1)}
    if sorted(numbers.values()) != sorted(SEGMENT_LABELS.values()):
        problems.append(f"the SEG describes segments {sorted(numbers.values())}")
    frames = int(ds.NumberOfFrames)
    pixels = ds.pixel_array.reshape(frames, int(ds.Rows), int(ds.Columns))
    referenced = [int(g.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
                  for g in ds.PerFrameFunctionalGroupsSequence]
    slices = {str(g.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
              for g in ds.PerFrameFunctionalGroupsSequence}
    if frames != len(slices) * len(numbers):
        problems.append(f"the SEG has {frames} frames, expected {len(slices)} slices x {len(numbers)} segments")
    counts: dict[int, int] = {}
    for frame, number in zip(pixels, referenced, strict=True):
        value = value_of.get(number)
        if value is not None and frame.any():
            counts[value] = counts.get(value, 0) + int(np.count_nonzero(frame))
    return frames, tuple(numbers[n] for n in sorted(numbers)), counts, problems
