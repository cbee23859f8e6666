"""The model's working space and the exact way back to the grid the clinician reads (the native T1ce).

Working grid: 1 mm isotropic, axes in RAS+ order (the T1ce's own axis directions permuted and flipped to the
closest of R, A, S, or the world axes when obliquity is not kept), covering the T1ce's field of view (see
``engine.geometry.working_grid``). The T1ce defines world coordinates (it is never moved), so a working-space
label map maps back to the native T1ce grid by resampling alone; the other contrasts are brought in through
their rigid transform onto the T1ce.

Round trips: when the T1ce has 1 mm voxels (BraTS data in any of the 48 axis orders, or an oblique 1 mm
acquisition with obliquity kept) the mapping is an exact permutation / flip of voxels. Otherwise labels are resampled label-wise linearly by default
(measured Dice in docs/input-and-export.md), or by nearest neighbour on request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.geometry import Grid, axis_mapping, resample, resample_labels, working_grid
from engine.io.budget import check_working_grid
from engine.lazy import lazy_module

sitk = lazy_module("SimpleITK", "preprocessing needs SimpleITK (pip install SimpleITK)")


@dataclass(frozen=True)
class WorkingSpace:
    """The pair of grids a case moves between.

    Attributes:
        native: the T1ce grid as stored (shape and RAS affine of the file or DICOM series).
        grid: the working grid.
    """

    native: Grid
    grid: Grid

    @staticmethod
    def for_reference(native: Grid, spacing_mm: float = 1.0, keep_obliquity: bool = True) -> WorkingSpace:
        """The working space of a T1ce stored on ``native``.

        Args:
            native: the T1ce's grid.
            spacing_mm: working voxel size.
            keep_obliquity: keep the T1ce's axis directions (see ``engine.geometry.working_axes``).
        """
        grid = working_grid(native, spacing_mm, keep_obliquity)
        check_working_grid(grid.shape)
        return WorkingSpace(native, grid)

    @property
    def exact(self) -> bool:
        """True when native and working voxels correspond one to one (no interpolation either way)."""
        same_count = sorted(self.native.shape) == sorted(self.grid.shape)
        return same_count and axis_mapping(self.native, self.grid) is not None

    def image_to_working(
        self, data: np.ndarray, grid: Grid, transform: sitk.Transform | None = None, interpolation: str = "linear"
    ) -> np.ndarray:
        """Resample an image onto the working grid.

        Args:
            data: the image on ``grid``.
            grid: its grid.
            transform: T1ce-world -> image-world rigid transform (None when it is on the T1ce's frame).
            interpolation: "linear", "nearest" or "bspline".
        """
        return resample(data, grid, self.grid, transform, interpolation).astype(np.float32, copy=False)

    def label_to_native(self, label: np.ndarray, method: str = "labelwise_linear") -> np.ndarray:
        """Map a working-space label map onto the native T1ce grid.

        Args:
            label: integer label map on the working grid.
            method: "labelwise_linear" (default) or "nearest".
        """
        if label.shape != self.grid.shape:
            raise ValueError(f"label map shape {label.shape} is not the working grid's {self.grid.shape}")
        return resample_labels(label, self.grid, self.native, method)

    def label_to_working(self, label: np.ndarray, method: str = "labelwise_linear") -> np.ndarray:
        """Map a label map drawn on the native T1ce grid into working space (e.g. a reference segmentation).

        Args:
            label: integer label map on the native grid.
            method: "labelwise_linear" (default) or "nearest".
        """
        if label.shape != self.native.shape:
            raise ValueError(f"label map shape {label.shape} is not the native T1ce grid's {self.native.shape}")
        return resample_labels(label, self.native, self.grid, method)

    def to_dict(self) -> dict[str, object]:
        return {"native_t1ce": self.native.to_dict(), "working": self.grid.to_dict(), "exact": self.exact}

    @staticmethod
    def from_dict(values: dict[str, object]) -> WorkingSpace:
        return WorkingSpace(Grid.from_dict(values["native_t1ce"]), Grid.from_dict(values["working"]))  # type: ignore[arg-type]
