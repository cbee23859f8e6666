"""The bad-input corpus: each entry builds one malformed or hostile input and the CLI arguments that use it.

An entry is ``(id, build, expected)``: ``build(ws)`` writes the input under ``ws.tmp`` and returns the argv for
``main.main``; ``expected`` is a fragment of the one error line. Every entry reproduces a failure class of
issue 15 (output collisions, unbounded memory, empty or multi-line messages, doubtful inputs, bad weights).
"""

from __future__ import annotations

import json
import pickle
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tests.cli import bad_files as bf


@dataclass
class Workspace:
    """Per-test folder with fresh copies of the templates and the common arguments."""

    tmp: Path
    weights: Path
    nifti_template: Path
    dicom_template: Path

    @property
    def out(self) -> Path:
        return self.tmp / "out" / "seg.nii.gz"

    def case(self) -> Path:
        folder = self.tmp / "case"
        if not folder.exists():
            shutil.copytree(self.nifti_template, folder)
        return folder

    def study(self) -> Path:
        folder = self.tmp / "study"
        if not folder.exists():
            shutil.copytree(self.dicom_template, folder)
        return folder

    def t1ce_series(self) -> Path:
        return self.study() / "series3"

    def segment(self, source: Path | None = None, *extra: str, out: Path | None = None,
                weights: Path | None = None) -> list[str]:
        args = ["segment"] + ([str(source)] if source is not None else [])
        return args + ["-o", str(out or self.out), "--weights", str(weights or self.weights), "--device", "cpu",
                       "--tile", "32", *extra]

    def prepare(self, source: Path, *extra: str) -> list[str]:
        return ["prepare", str(source), "--out", str(self.tmp / "out" / "prepared"), *extra]


Build = Callable[[Workspace], list[str]]
CORPUS: list[tuple[str, Build, str]] = []


def entry(name: str, expected: str) -> Callable[[Build], Build]:
    def register(build: Build) -> Build:
        CORPUS.append((name, build, expected))
        return build
    return register


def replace_nifti(ws: Workspace, role: str, write: Callable[[Path], object]) -> Path:
    """The case with ``role``'s file replaced by what ``write(path)`` writes at the same name."""
    case = ws.case()
    path = bf.role_file(case, role)
    path.unlink()
    write(path)
    return case


def mutate_t1ce(ws: Workspace, change: Callable) -> Path:
    bf.mutate_series(ws.t1ce_series(), change)
    return ws.study()


# ------------------------------------------------------------------------------------------ output collisions

entry("dicom-seg-is-the-nifti", "same path")(
    lambda ws: ws.segment(ws.case(), "--dicom-seg", str(ws.out), "--force"))
entry("dicom-seg-is-the-sidecar", "same path")(
    lambda ws: ws.segment(ws.case(), "--dicom-seg", str(ws.out.with_name("seg.json"))))
entry("nifti-inside-the-t1ce-copy", "overlap")(
    lambda ws: ws.segment(ws.case(), "--dicom-seg", str(ws.tmp / "out" / "a.dcm"),
                          out=ws.tmp / "out" / "a_t1ce_dicom" / "seg.nii.gz"))
entry("nifti-is-an-input-file", "would overwrite the input")(
    lambda ws: ws.segment(ws.case(), "--force", out=bf.role_file(ws.case(), "t1ce")))
entry("nifti-is-an-override-file", "would overwrite the input")(
    lambda ws: ws.segment(None, *[a for r in bf.ROLES for a in (f"--{r}", str(bf.role_file(ws.case(), r)))],
                          "--force", out=bf.role_file(ws.case(), "flair")))
entry("dicom-seg-is-the-input-folder", "existing folder")(
    lambda ws: ws.segment(ws.case(), "--dicom-seg", str(ws.case()), "--force"))


@entry("nifti-is-an-existing-folder", "existing folder")
def _(ws: Workspace) -> list[str]:
    (ws.tmp / "out" / "seg.nii.gz").mkdir(parents=True)
    return ws.segment(ws.case(), "--force")


entry("prepare-out-is-the-input", "would overwrite the input")(lambda ws: ["prepare", str(ws.case()), "--out",
                                                                           str(ws.case()), "--force"])
entry("dicom-seg-is-a-dicom-input", "would overwrite the input")(
    lambda ws: ws.segment(ws.study(), "--dicom-seg", str(sorted(ws.t1ce_series().iterdir())[0]), "--force"))

# ------------------------------------------------------------------------- memory and geometry, from headers

entry("int16-1000-cubed-gz", "covers 1000 x 1000 x 1000 mm")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_raw_nifti(p, (1000, 1000, 1000)))))
entry("nifti1-32767-cubed", "GB")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_raw_nifti(p, (32767, 32767, 32767)))))
entry("nifti2-100000-cubed", "GB")(lambda ws: ws.segment(replace_nifti(
    ws, "t2", lambda p: bf.write_raw_nifti(p, (100000, 100000, 100000), np.float32, nifti2=True))))
entry("nifti2-huge-uncompressed", "GB")(lambda ws: ws.prepare(replace_nifti(
    ws, "flair", lambda p: bf.write_raw_nifti(p.with_suffix(""), (5000, 5000, 5000), np.float64, nifti2=True))))


@entry("four-contrasts-5mm-240-matrix", "covers")
def _(ws: Workspace) -> list[str]:
    case = ws.case()
    for role in bf.ROLES:
        path = bf.role_file(case, role)
        path.unlink()
        bf.write_raw_nifti(path, (240, 240, 155), np.int16, (5, 5, 5))
    return ws.segment(case)


def _zoomed(zooms: tuple[float, float, float], role: str, voxels: bool = True) -> Build:
    def build(ws: Workspace) -> list[str]:
        affine = np.diag([*zooms, 1.0])
        return ws.segment(replace_nifti(ws, role, lambda p: bf.write_volume(p, bf.brain(role), affine)))
    return build


entry("t1ce-20mm-voxels", "mm voxels")(_zoomed((20, 20, 20), "t1ce"))
entry("t2-10000mm-voxels", "mm voxels")(_zoomed((10000, 10000, 10000), "t2"))
entry("t1-0.01mm-voxels", "mm voxels")(_zoomed((0.01, 0.01, 0.01), "t1"))
entry("flair-15mm-slices", "mm voxels")(_zoomed((1, 1, 15), "flair"))


@entry("four-contrasts-1000mm", "mm voxels")
def _(ws: Workspace) -> list[str]:
    case = ws.case()
    for role in bf.ROLES:
        bf.write_volume(bf.role_file(case, role), bf.brain(role), np.diag([1000.0, 1000, 1000, 1]))
    return ws.segment(case)


entry("fov-500mm", "covers")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_raw_nifti(p, (500, 44, 36), np.int16))))
entry("zero-affine", "mm voxels")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_raw_nifti(p, (40, 44, 36), np.float32, data=bf.brain().tobytes("F"),
                                             affine=np.zeros((4, 4))))))
entry("nan-affine", "non-finite")(lambda ws: ws.segment(replace_nifti(
    ws, "t2", lambda p: bf.write_raw_nifti(p, (40, 44, 36), affine=np.full((4, 4), np.nan)))))
entry("memory-limit-below-the-case", "memory limit")(lambda ws: ws.segment(ws.case(), "--memory-limit", "0.001"))
entry("memory-limit-negative", "not a positive number")(lambda ws: ws.segment(ws.case(), "--memory-limit", "-1"))
entry("memory-limit-nan", "not a positive number")(lambda ws: ws.prepare(ws.case(), "--memory-limit", "nan"))
entry("working-grid-over-the-limit", "working grid")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_raw_nifti(p, (390, 390, 390), np.uint8, (1, 1, 1))), "--memory-limit", "1.2"))

# ------------------------------------------------------------------------------------------ NIfTI content

entry("complex64-t1ce", "complex")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_volume(p, bf.brain().astype(np.complex64) * (1 + 1j)))))
entry("complex128-flair", "complex")(lambda ws: ws.prepare(replace_nifti(
    ws, "flair", lambda p: bf.write_volume(p, bf.brain("flair").astype(np.complex128)))))
entry("binary-mask-as-t1ce", "binary")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_volume(p, (bf.brain() > 0).astype(np.uint8)))))
entry("label-map-as-flair", "label map")(lambda ws: ws.segment(replace_nifti(
    ws, "flair", lambda p: bf.write_volume(p, np.digitize(bf.brain("flair"), [1, 100, 150]).astype(np.int16)))))
entry("constant-t2", "constant")(lambda ws: ws.segment(replace_nifti(
    ws, "t2", lambda p: bf.write_volume(p, np.full(bf.BRATS_LIKE.shape, 7.0, np.float32)))))


@entry("rgb24-t1ce", "colour")
def _(ws: Workspace) -> list[str]:
    rgb = np.zeros(bf.BRATS_LIKE.shape, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    return ws.segment(replace_nifti(ws, "t1ce", lambda p: bf.write_volume(p, rgb)))


entry("float64-near-1e300", "infinite")(lambda ws: ws.segment(replace_nifti(
    ws, "t2", lambda p: bf.write_volume(p, bf.brain("t2").astype(np.float64) * 1e298 + 1e300))))
entry("nan-voxels", "NaN")(lambda ws: ws.segment(replace_nifti(
    ws, "t1", lambda p: bf.write_volume(p, np.where(bf.brain("t1") > 90, np.nan, bf.brain("t1"))))))
entry("four-dimensional", "dimensions")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_volume(p, np.stack([bf.brain()] * 3, axis=-1)))))
entry("two-dimensional", "2D")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_volume(p, bf.brain()[:, :, :1]))))


@entry("truncated-uncompressed", "truncated")
def _(ws: Workspace) -> list[str]:
    case = ws.case()
    path = bf.role_file(case, "t1ce")
    target = path.with_suffix("")  # P7_t1ce.nii
    bf.write_volume(target, bf.brain())
    path.unlink()
    bf.truncate(target)
    return ws.segment(case)


entry("truncated-gz", "not a readable NIfTI")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.truncate(bf.write_volume(p, bf.brain()), 0.6))))
entry("zero-byte-gz", "not a readable NIfTI")(lambda ws: ws.segment(replace_nifti(ws, "t2", lambda p: p.write_bytes(b""))))
entry("random-bytes-gz", "not a readable NIfTI")(lambda ws: ws.segment(replace_nifti(
    ws, "flair", lambda p: p.write_bytes(np.random.default_rng(1).bytes(4096)))))
entry("text-named-nii", "not a readable NIfTI")(lambda ws: ws.prepare(replace_nifti(
    ws, "t1", lambda p: p.with_suffix("").write_text("not an image\n" * 50))))


def _affine(columns: list[list[float]]) -> np.ndarray:
    affine = np.eye(4)
    affine[:3, :3] = np.array(columns, dtype=float).T
    return affine


entry("sheared-affine", "sheared")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_volume(p, bf.brain(), _affine([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1]])))))
entry("singular-affine", "degenerate")(lambda ws: ws.segment(replace_nifti(
    ws, "t1ce", lambda p: bf.write_volume(p, bf.brain(), _affine([[1, 0, 0], [1, 0, 0], [0, 0, 1]])))))


@entry("fields-of-view-apart", "do not overlap")
def _(ws: Workspace) -> list[str]:
    affine = bf.BRATS_LIKE.affine.copy()
    affine[:3, 3] += 300
    return ws.segment(replace_nifti(ws, "t2", lambda p: bf.write_volume(p, bf.brain("t2"), affine)))


# ------------------------------------------------------------------------------------------------- DICOM

entry("dicom-no-pixel-spacing", "Pixel Spacing")(lambda ws: ws.segment(mutate_t1ce(ws, bf.drop("PixelSpacing"))))
entry("dicom-pixel-spacing-zero", "mm voxels")(lambda ws: ws.segment(mutate_t1ce(ws, bf.set_tag("PixelSpacing", [0, 0]))))
entry("dicom-pixel-spacing-50mm", "mm voxels")(lambda ws: ws.segment(mutate_t1ce(ws, bf.set_tag("PixelSpacing", [50, 50]))))
entry("dicom-rgb-t1ce", "colour")(lambda ws: ws.segment(mutate_t1ce(ws, bf.to_rgb)))
entry("dicom-mpeg2-syntax", "transfer syntax")(lambda ws: ws.segment(mutate_t1ce(
    ws, bf.transfer_syntax("1.2.840.10008.1.2.4.100"))))
entry("dicom-corrupt-jpeg", "cannot be decoded")(lambda ws: ws.segment(mutate_t1ce(ws, bf.corrupt_jpeg)))
entry("dicom-no-position", "Image Position")(lambda ws: ws.segment(mutate_t1ce(ws, bf.drop("ImagePositionPatient"))))
entry("dicom-no-orientation", "Image Orientation")(lambda ws: ws.segment(mutate_t1ce(
    ws, bf.drop("ImageOrientationPatient"))))
entry("dicom-zero-rows", "pixel images")(lambda ws: ws.segment(mutate_t1ce(ws, bf.set_tag("Rows", 0))))
entry("dicom-65535-squared", "GB")(lambda ws: ws.segment(mutate_t1ce(ws, bf.huge_rows)))
entry("dicom-100000-frames", "GB")(lambda ws: ws.segment(mutate_t1ce(ws, bf.set_tag("NumberOfFrames", 100000))))
entry("dicom-two-volumes-in-one-series", "positions")(lambda ws: ws.segment(
    (bf.duplicate_slices(ws.t1ce_series()), ws.study())[1]))
entry("dicom-missing-slice", "uneven")(lambda ws: ws.segment((bf.remove_middle_slice(ws.t1ce_series()), ws.study())[1]))
entry("dicom-single-slice", "single slice")(lambda ws: ws.segment((bf.keep_one_slice(ws.t1ce_series()),
                                                                    ws.study())[1]))
entry("dicom-mixed-sizes", "mixes image sizes")(lambda ws: ws.segment((bf.shrink_one_slice(ws.t1ce_series()),
                                                                        ws.study())[1]))
entry("dicom-20mm-slices", "mm voxels")(lambda ws: ws.segment(mutate_t1ce(ws, bf.shift_positions(20))))
entry("dicom-binary-mask", "binary")(lambda ws: ws.segment(mutate_t1ce(ws, bf.to_binary)))
entry("dicom-rescale-slope-1e38", "infinite")(lambda ws: ws.segment(mutate_t1ce(ws, bf.set_tag("RescaleSlope", "1e38"))))


@entry("dicom-truncated-files", "cannot be")
def _(ws: Workspace) -> list[str]:
    for path in ws.t1ce_series().iterdir():
        bf.truncate(path, 0.6)
    return ws.segment(ws.study())


@entry("dicom-no-mr-series", "no MR series")
def _(ws: Workspace) -> list[str]:
    study = ws.study()
    for name in ("series2", "series3", "series4", "series5"):
        shutil.rmtree(study / name)
    return ws.segment(study)


# ------------------------------------------------------------------------------------------------ weights

def _resigned(ws: Workspace, change: Callable[[dict], None]) -> Path:
    """The tiny checkpoint with its config metadata changed and the metadata hash recomputed."""
    from safetensors import safe_open
    from safetensors.torch import save

    from engine.checkpoint import _metadata_sha256

    with safe_open(str(ws.weights), "pt") as handle:
        metadata = dict(handle.metadata())
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - safe_open API
    config = json.loads(metadata["config"])
    change(config)
    metadata["config"] = json.dumps(config, sort_keys=True)
    metadata["metadata_sha256"] = _metadata_sha256(metadata)
    path = ws.tmp / "resigned.safetensors"
    path.write_bytes(save(tensors, metadata=metadata))
    return path


def _weights_file(ws: Workspace, content: bytes) -> Path:
    path = ws.tmp / "w.safetensors"
    path.write_bytes(content)
    return path


entry("weights-base-width-doubled", "base width 8")(lambda ws: ws.segment(
    ws.case(), weights=_resigned(ws, lambda c: c.update(base_width=c["base_width"] * 2))))
entry("weights-zero-bytes", "too short")(lambda ws: ws.segment(ws.case(), weights=_weights_file(ws, b"")))
entry("weights-random-bytes", "not a safetensors")(lambda ws: ws.segment(
    ws.case(), weights=_weights_file(ws, np.random.default_rng(2).bytes(5000))))


@entry("weights-pickle", "never unpickles")
def _(ws: Workspace) -> list[str]:
    path = ws.tmp / "w.pt"
    torch.save({"model": torch.zeros(3), "code": pickle.dumps(print)}, path)
    return ws.segment(ws.case(), weights=path)


entry("weights-truncated", "truncated")(lambda ws: ws.segment(
    ws.case(), weights=bf.truncate(Path(shutil.copy(ws.weights, ws.tmp / "w.safetensors")), 0.5)))


@entry("weights-header-length-huge", "not a safetensors")
def _(ws: Workspace) -> list[str]:
    path = ws.tmp / "w.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{" + b" " * 64)
    return ws.segment(ws.case(), weights=path)
