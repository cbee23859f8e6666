"""A memory and geometry budget from headers alone, checked before any pixel data is read.

Each input's header (NIfTI dims, dtype and affine; DICOM rows x columns x frames, pixel spacing, transfer
syntax) gives the memory reading it needs and its field of view. A case is refused, with one line naming the
file and the figure, when an input or the whole case would need more than the memory limit, when voxels are not
head-MRI sized (0.1-10 mm), when a field of view exceeds 400 mm, or when the data is complex or colour.

The limit is ``DEFAULT_MEMORY_LIMIT_GB`` (fits a 16 GB workstation beside the OS and the GUI), overridden by
the ``REVSEG_MEMORY_LIMIT_GB`` environment variable or by the caller (the CLI's ``--memory-limit``).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from engine.errors import CaseError

DEFAULT_MEMORY_LIMIT_GB = 8.0
MEMORY_LIMIT_ENV = "REVSEG_MEMORY_LIMIT_GB"
MIN_VOXEL_MM, MAX_VOXEL_MM = 0.1, 10.0
MAX_FOV_MM = 400.0
# The working grid (1 mm) never exceeds a 400 mm cube.
MAX_WORKING_VOXELS = 400 ** 3
# Float32 copies of the working grid alive at once while preparing and inferring (four resampled contrasts,
# the normalised ones, masks, registration and skull-strip intermediates): measured peak ~10, with margin.
WORKING_COPIES = 12
GB = 1024 ** 3


@dataclass(frozen=True)
class InputEstimate:
    """What reading one input costs, from its header.

    Attributes:
        name: file or series name, for messages.
        shape: voxels along the three axes.
        spacing_mm: voxel size along them.
        stored_itemsize: bytes per stored voxel.
    """

    name: str
    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    stored_itemsize: int

    @property
    def voxels(self) -> int:
        return math.prod(self.shape)

    @property
    def kept_bytes(self) -> int:
        """The float32 volume kept while the case is prepared."""
        return self.voxels * 4

    @property
    def read_bytes(self) -> int:
        """Peak while reading: stored voxels plus the float32 copy."""
        return self.voxels * (self.stored_itemsize + 4)

    @property
    def fov_mm(self) -> tuple[float, float, float]:
        return tuple(n * s for n, s in zip(self.shape, self.spacing_mm, strict=True))  # type: ignore[return-value]


_ACTIVE_LIMIT_GB: contextvars.ContextVar[float | None] = contextvars.ContextVar("revseg_memory_limit_gb", default=None)


@contextlib.contextmanager
def memory_limit(limit_gb: float | None) -> Iterator[None]:
    """Within the block, ``memory_limit_bytes()`` uses ``limit_gb`` (None: leave the limit as it is)."""
    token = _ACTIVE_LIMIT_GB.set(limit_gb if limit_gb is not None else _ACTIVE_LIMIT_GB.get())
    try:
        yield
    finally:
        _ACTIVE_LIMIT_GB.reset(token)


def memory_limit_bytes(limit_gb: float | None = None) -> int:
    """The memory limit: ``limit_gb``, else the one of an enclosing ``memory_limit`` block, else the environment
    variable, else the default.

    Raises:
        CaseError: the limit given is not a positive number.
    """
    value: object = limit_gb if limit_gb is not None else _ACTIVE_LIMIT_GB.get()
    if value is None:
        value = os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT_GB)
    try:
        limit = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        limit = float("nan")
    if not math.isfinite(limit) or limit <= 0:
        raise CaseError(f"memory limit {value!r} is not a positive number of GB (--memory-limit / {MEMORY_LIMIT_ENV})")
    return int(limit * GB)


def _gb(value: float) -> str:
    return f"{value / GB:.1f} GB"


def check_dtype(dtype: np.dtype, name: str) -> None:
    """Refuse complex and colour voxel types (an MR contrast is one real value per voxel).

    Args:
        dtype: the stored voxel type.
        name: file or series name, for the message.
    """
    if dtype.kind == "c":
        raise CaseError(f"{name} holds complex-valued voxels ({dtype}); give the magnitude image "
                        "(re-export it from the scanner or take abs() of the data)")
    if dtype.fields is not None or dtype.kind not in "iufb":
        raise CaseError(f"{name} holds {dtype} voxels (colour or structured); give the grey-scale MR image")


def check_geometry(name: str, shape: tuple[int, ...], spacing_mm: tuple[float, ...]) -> None:
    """Refuse voxel sizes outside 0.1-10 mm and fields of view of 400 mm or more.

    Args:
        name: file or series name.
        shape: voxels per axis.
        spacing_mm: voxel size per axis.
    """
    for axis, size in enumerate(spacing_mm):
        if not (MIN_VOXEL_MM <= size <= MAX_VOXEL_MM):
            raise CaseError(
                f"{name} has {size:.4g} mm voxels along axis {axis}; a head MRI has {MIN_VOXEL_MM:g}-{MAX_VOXEL_MM:g} "
                "mm voxels: check the voxel size in its header (pixdim / Pixel Spacing)")
    fov = [n * s for n, s in zip(shape, spacing_mm, strict=True)]
    if max(fov) >= MAX_FOV_MM:
        raise CaseError(
            f"{name} covers {' x '.join(f'{f:.0f}' for f in fov)} mm; a head scan covers less than {MAX_FOV_MM:.0f} mm "
            "per axis: check its voxel size and dimensions")


def working_voxels(reference: InputEstimate, spacing_mm: float = 1.0) -> int:
    """Voxels of the working grid built on ``reference`` (its field of view at ``spacing_mm``)."""
    return math.prod(max(1, math.ceil(f / spacing_mm)) + 1 for f in reference.fov_mm)


def check_working_grid(shape: tuple[int, ...]) -> None:
    """Refuse a working grid above ``MAX_WORKING_VOXELS`` (a cap independent of the memory limit)."""
    if math.prod(shape) > MAX_WORKING_VOXELS:
        raise CaseError(f"the working grid {' x '.join(map(str, shape))} exceeds the cap of {MAX_WORKING_VOXELS} voxels "
                        f"(a {round(MAX_WORKING_VOXELS ** (1 / 3))} mm cube); check the T1ce's voxel size and dimensions")


def check_input_memory(estimate: InputEstimate, limit: int | None = None) -> None:
    """Refuse one input whose reading alone needs more than ``limit`` bytes (None: the configured limit)."""
    limit = memory_limit_bytes() if limit is None else limit
    if estimate.read_bytes > limit:
        raise CaseError(f"{estimate.name} is {' x '.join(map(str, estimate.shape))} voxels: reading it needs "
                        f"{_gb(estimate.read_bytes)}, above the memory limit of {_gb(limit)}; raise the limit with "
                        f"--memory-limit GB or {MEMORY_LIMIT_ENV} if this machine has the memory")


def check_case_budget(estimates: Mapping[str, InputEstimate], limit_gb: float | None = None) -> int:
    """Refuse a case whose inputs or working grid exceed the memory limit; return the estimated peak bytes.

    Args:
        estimates: role -> header estimate. "t1ce" defines the working grid; a partial study without it (viewing
            only) is budgeted on its largest input's grid.
        limit_gb: the memory limit (None: environment variable or default).
    """
    if not estimates:
        raise CaseError("no input to budget: the case has no MRI contrast")
    limit = memory_limit_bytes(limit_gb)
    hint = f"raise the limit with --memory-limit GB or {MEMORY_LIMIT_ENV} if this machine has the memory"
    for estimate in estimates.values():
        check_input_memory(estimate, limit)
    for estimate in estimates.values():
        check_geometry(estimate.name, estimate.shape, estimate.spacing_mm)
    reference = estimates.get("t1ce") or max(estimates.values(), key=lambda e: math.prod(e.shape))
    grid = working_voxels(reference)
    check_working_grid((grid,))
    kept = sum(e.kept_bytes for e in estimates.values())
    peak = kept + max(e.read_bytes - e.kept_bytes for e in estimates.values()) + grid * 4 * WORKING_COPIES
    if peak > limit:
        raise CaseError(f"this case needs about {_gb(peak)} (inputs {_gb(kept)}, working grid of {grid} voxels), "
                        f"above the memory limit of {_gb(limit)}; {hint}")
    return peak


# An MR contrast has hundreds of grey levels; a mask or a label map has a handful of integers.
MAX_LABEL_LIKE_VALUES = 8
_CONTENT_SAMPLE = 1 << 20


def check_mr_content(data: np.ndarray, name: str, modality: str) -> None:
    """Refuse a binary or label-like volume (a few integer values) given as an MR contrast.

    Args:
        data: the volume.
        name: file or series name.
        modality: the role it was given for.
    """
    flat = data.reshape(-1)
    sample = flat[:: max(1, flat.size // _CONTENT_SAMPLE)]
    values = np.unique(sample)
    if len(values) > MAX_LABEL_LIKE_VALUES or not np.all(values == np.round(values)):
        return
    what = "constant" if len(values) == 1 else "binary (a mask)" if len(values) == 2 else "a label map"
    raise CaseError(f"{name} given as {modality} is {what}: it holds only the values "
                    f"{', '.join(f'{v:g}' for v in values[:MAX_LABEL_LIKE_VALUES])}; give the MR image itself")
