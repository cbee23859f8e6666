"""Skull stripping: detect whether a head is already stripped, and strip it (deepbet, else a template mask) if not.

Detection (cheap, exact on BraTS-style data): a stripped volume is zero along the edges of its box (air; a brain
cut by a small field of view reaches faces, not edges) and its nonzero voxels make up a brain-sized volume
(< ``max_brain_ml``); an unstripped head has background noise there or, when the scanner zero-fills the air,
a nonzero volume of a whole head (3-5 L).

Stripping: the MNI152 2009c T1 template that ships with nilearn is itself skull-stripped; its nonzero region
is the template's brain mask. An affine registration (12 parameters, Mattes MI, multi-resolution) of the
template onto the subject's T1 carries that mask over. It is an approximate mask (a template, not the
subject's own boundary). ``prepare_case`` uses deepbet (a CNN, a dependency of RevSeg) when it is importable
and the template mask only as a fallback: measured on simulated heads built from the real cases, deepbet's
Dice is 0.95-0.98 against the template's 0.71-0.75 (docs/input-and-export.md).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from engine.errors import CancelCheck, CaseError, ProgressCallback, check_cancel, report
from engine.geometry import Grid, resample, to_sitk
from engine.lazy import lazy_module
from engine.preprocess.registration import RegistrationConfig, _method

sitk = lazy_module("SimpleITK", "preprocessing needs SimpleITK (pip install SimpleITK)")

log = logging.getLogger(__name__)

TEMPLATE_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
# A mask needs no sub-millimetre fit: coarse levels only (about 4 and 2 mm) keep stripping to seconds.
STRIP_REGISTRATION = RegistrationConfig(shrink_factors=(4, 2), smoothing_mm=(4.0, 2.0), iterations=100)


@dataclass(frozen=True)
class StripCheck:
    """Whether a volume looks skull-stripped, with the measurements behind the decision.

    Attributes:
        stripped: True when the volume is already skull-stripped.
        edge_nonzero_fraction: fraction of voxels on the twelve edges of the box that are not zero.
        nonzero_ml: volume of the nonzero voxels in millilitres.
        reason: one line for logs and the provenance.
    """

    stripped: bool
    edge_nonzero_fraction: float
    nonzero_ml: float
    reason: str


def _box_edges(data: np.ndarray) -> np.ndarray:
    """Voxels on the 12 edges of the array's box: air in any head scan, far from a brain even when it is cut."""
    lines = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for first in (0, -1):
            for second in (0, -1):
                index: list[object] = [slice(None)] * 3
                index[others[0]], index[others[1]] = first, second
                lines.append(data[tuple(index)].ravel())
    return np.concatenate(lines)


def detect_skull_stripped(data: np.ndarray, grid: Grid, max_brain_ml: float = 2200.0) -> StripCheck:
    """Decide whether ``data`` is already skull-stripped.

    A stripped volume is exactly zero in the air at the edges of its box (a brain cut by a small field of view
    touches faces, not edges) and its nonzero voxels make up a brain, not a head.

    Args:
        data: a volume (any contrast) on ``grid``.
        grid: its grid, for the voxel volume.
        max_brain_ml: nonzero volumes above this are a whole head, not a brain (adult brains: 1.0-1.9 L).
    """
    edges = _box_edges(data)
    edge_fraction = float(np.count_nonzero(edges)) / edges.size
    nonzero_ml = float(np.count_nonzero(data)) * grid.voxel_volume_ml
    if edge_fraction > 0.5:
        reason = f"{edge_fraction:.0%} of the voxels on the box edges are nonzero (background noise): not stripped"
        return StripCheck(False, edge_fraction, nonzero_ml, reason)
    if nonzero_ml > max_brain_ml:
        reason = f"zero background but {nonzero_ml:.0f} mL nonzero (a whole head, > {max_brain_ml:.0f} mL): not stripped"
        return StripCheck(False, edge_fraction, nonzero_ml, reason)
    return StripCheck(True, edge_fraction, nonzero_ml, f"zero background, {nonzero_ml:.0f} mL nonzero: already stripped")


def nonzero_brain_mask(volumes: list[np.ndarray]) -> np.ndarray:
    """Brain mask of stripped data: voxels nonzero in any contrast, holes filled.

    Args:
        volumes: the contrasts on one grid.
    """
    mask = np.zeros(volumes[0].shape, bool)
    for data in volumes:
        mask |= data != 0
    return fill_holes(mask)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes`` with its default (6-connected) structure, by ``fill_voids`` where it is
    installed (a dependency of deepbet): the same result, about 10x faster (0.07 against 0.67 s on a BraTS case)."""
    try:
        import fill_voids
    except ImportError:
        return ndimage.binary_fill_holes(mask)
    # fill_voids answers in Fortran order; later boolean indexing of C-ordered volumes with it is 2-4x slower
    return np.ascontiguousarray(fill_voids.fill(np.asarray(mask, bool), in_place=False))


def template_path() -> Path:
    """The MNI152 T1 template file shipped in the nilearn package (found without importing nilearn).

    Raises:
        CaseError: nilearn is not installed.
    """
    spec = importlib.util.find_spec("nilearn")
    if spec is None or spec.origin is None:
        raise CaseError("the head is not skull-stripped and skull stripping needs the nilearn package "
                        "(pip install nilearn) for its MNI152 template; or give skull-stripped volumes")
    path = Path(spec.origin).parent / "datasets" / "data" / TEMPLATE_FILE
    if not path.is_file():
        raise CaseError(f"nilearn's MNI152 template is missing ({path}); reinstall nilearn")
    return path


def _load_template() -> tuple[np.ndarray, Grid, np.ndarray]:
    image = nib.load(str(template_path()))
    data = np.asarray(image.get_fdata(dtype=np.float32))
    mask = ndimage.binary_fill_holes(data > 0)
    return data, Grid(tuple(int(n) for n in data.shape), image.affine.copy()), mask  # type: ignore[arg-type]


def _affine_to_subject(subject: sitk.Image, template: sitk.Image, config: RegistrationConfig,
                       cancel: CancelCheck | None) -> sitk.Transform:
    initial = sitk.CenteredTransformInitializer(
        subject, template, sitk.AffineTransform(3), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    method = _method(config, int(np.prod(subject.GetSize())))
    method.SetInitialTransform(initial, inPlace=False)
    method.AddCommand(sitk.sitkIterationEvent, lambda: method.StopRegistration() if cancel and cancel() else None)
    try:
        transform = method.Execute(subject, template)
    except RuntimeError as error:
        raise CaseError(f"skull stripping failed: template registration did not run ({error})") from None
    check_cancel(cancel, "skull stripping")
    return transform


def template_brain_mask(
    t1: np.ndarray,
    grid: Grid,
    config: RegistrationConfig = STRIP_REGISTRATION,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> np.ndarray:
    """Brain mask of an unstripped head: the MNI152 template's brain, carried over by affine registration.

    Args:
        t1: the subject's T1 (or T1ce) on ``grid``.
        grid: its grid.
        config: registration settings (shrink factors, iterations, sampling).
        progress: called as ``progress("skull strip", done, 2)``.
        cancel: polled during the registration.

    Returns:
        Boolean mask on ``grid``.
    """
    report(progress, "skull strip", 0, 2)
    template, template_grid, template_mask = _load_template()
    subject_image = sitk.Cast(to_sitk(t1, grid.affine), sitk.sitkFloat32)
    template_image = sitk.Cast(to_sitk(template, template_grid.affine), sitk.sitkFloat32)
    transform = _affine_to_subject(subject_image, template_image, config, cancel)
    report(progress, "skull strip", 1, 2)
    weights = resample(template_mask.astype(np.float32), template_grid, grid, transform, "linear")
    mask = ndimage.binary_fill_holes(weights >= 0.5)
    report(progress, "skull strip", 2, 2)
    log.info("template brain mask: %.0f mL", mask.sum() * grid.voxel_volume_ml)
    return mask


def deepbet_available() -> bool:
    """True when the optional ``deepbet`` package (a CNN brain extractor whose weights ship in its wheel) is installed."""
    return importlib.util.find_spec("deepbet") is not None


def deepbet_brain_mask(t1: np.ndarray, grid: Grid, cancel: CancelCheck | None = None,
                       device: str = "cpu") -> np.ndarray:
    """Brain mask from deepbet (a CNN whose TorchScript weights ship in its wheel), run in memory.

    Args:
        t1: the subject's T1 on ``grid``.
        grid: its grid.
        cancel: polled before the network runs.
        device: where deepbet's two networks run ("cpu", "cuda", "cuda:N" or "mps"): ``segment`` passes the
            device the tumour network runs on. Out of memory on a GPU falls back to the CPU (logged).

    Raises:
        CaseError: when deepbet finds no brain (e.g. an image that holds no head).
    """
    check_cancel(cancel, "skull stripping")
    image = nib.Nifti1Image(t1.astype(np.float32), grid.affine)
    try:
        mask_image = _run_deepbet(image, device)
    except AssertionError as error:  # deepbet validates with assert, e.g. "Not enough foreground ..."
        raise CaseError(f"deepbet skull stripping failed: {error}") from None
    mask = np.asarray(mask_image.dataobj) > 0
    if mask.shape != grid.shape:
        raise CaseError(f"deepbet returned a mask of shape {mask.shape} for a volume of {grid.shape}")
    return mask


def _run_deepbet(image: nib.Nifti1Image, device: str) -> nib.Nifti1Image:
    """deepbet's mask image, on ``device``; on the CPU when the GPU runs out of memory."""
    try:
        with _DEEPBET_LOCK:  # the extractor keeps the last bounding box on itself: one run at a time
            return _deepbet_extractor(device).run(image, threshold=0.5, n_dilate=0)[1]
    except RuntimeError as error:  # torch.OutOfMemoryError is one; MPS raises a plain RuntimeError
        from engine.oom import is_out_of_memory  # imports torch, which deepbet has loaded by now

        if device == "cpu" or not is_out_of_memory(error):
            raise
        log.warning("deepbet ran out of memory on %s; skull stripping on the CPU instead", device)
        return _run_deepbet(image, "cpu")


_DEEPBET_LOCK = threading.Lock()


@functools.lru_cache(maxsize=2)
def _deepbet_extractor(device: str = "cpu"):  # noqa: ANN202 - deepbet is optional, so its type is not imported at module level
    """Load deepbet's two networks once per process and device (about a second each).

    deepbet chooses a GPU itself (MPS first, then CUDA, at import time); it is built on the CPU here and moved
    to ``device``, so that the skull strip runs where the caller's network runs, ``cuda:N`` included.
    """
    from deepbet.bet import BrainExtraction  # imported only when used: it pulls pandas and fill_voids

    extractor = BrainExtraction(no_gpu=True)
    if device != "cpu":
        extractor.model.to(device)
        extractor.bbox_model.to(device)
    return extractor
