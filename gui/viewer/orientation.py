"""How the three slice planes of a RAS+ volume are laid out on screen (radiological convention).

Volumes reach the GUI in closest-canonical RAS+ voxel order: voxel axis 0 runs towards the patient's right,
axis 1 anterior, axis 2 superior. The views follow 3D Slicer's default slice orientations:

* axial: anterior at the top, the patient's right on the screen's left (seen from the feet);
* coronal: superior at the top, the patient's right on the screen's left (seen from the front);
* sagittal: superior at the top, anterior on the screen's left (seen from the patient's right).

Display images are 2D arrays indexed ``[row, column]`` with row 0 at the BOTTOM of the screen (VTK's image
convention) and column 0 at the left. This module is Qt- and VTK-free so it can be tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Plane:
    """One slice orientation.

    Attributes:
        name: "axial", "coronal" or "sagittal".
        normal_axis: voxel axis the plane cuts across (its slice index is the cursor along this axis).
        horizontal_axis: voxel axis that runs along the screen's x (left to right).
        vertical_axis: voxel axis that runs along the screen's y (bottom to top).
        flip_horizontal: True when the voxel index DEcreases from the screen's left to its right.
        edge_labels: anatomical direction at the (left, right, top, bottom) edges of the view.
    """

    name: str
    normal_axis: int
    horizontal_axis: int
    vertical_axis: int
    flip_horizontal: bool
    edge_labels: tuple[str, str, str, str]

    @property
    def title(self) -> str:
        return self.name.capitalize()


AXIAL = Plane("axial", normal_axis=2, horizontal_axis=0, vertical_axis=1, flip_horizontal=True,
              edge_labels=("R", "L", "A", "P"))
CORONAL = Plane("coronal", normal_axis=1, horizontal_axis=0, vertical_axis=2, flip_horizontal=True,
                edge_labels=("R", "L", "S", "I"))
SAGITTAL = Plane("sagittal", normal_axis=0, horizontal_axis=1, vertical_axis=2, flip_horizontal=True,
                 edge_labels=("A", "P", "S", "I"))
PLANES = (AXIAL, CORONAL, SAGITTAL)


def display_slice(volume: np.ndarray, plane: Plane, index: int) -> np.ndarray:
    """The slice ``index`` of ``volume`` as a C-contiguous display image ``[row (bottom->top), column]``.

    Args:
        volume: 3D array in RAS+ voxel order.
        plane: which orientation.
        index: slice index along ``plane.normal_axis``.
    """
    if volume.ndim != 3:
        raise ValueError(f"expected a 3D volume, got shape {volume.shape}")
    section = np.take(volume, index, axis=plane.normal_axis)
    # The two remaining axes keep their order; put the vertical one first so rows run bottom -> top.
    if plane.horizontal_axis < plane.vertical_axis:
        section = section.T
    if plane.flip_horizontal:
        section = section[:, ::-1]
    return np.ascontiguousarray(section)


def display_shape(shape: tuple[int, int, int], plane: Plane) -> tuple[int, int]:
    """(columns, rows) of the display image of ``plane`` for a volume of ``shape``."""
    return shape[plane.horizontal_axis], shape[plane.vertical_axis]


def voxel_to_display(voxel: tuple[int, int, int], shape: tuple[int, int, int], plane: Plane) -> tuple[int, int]:
    """(column, row) of ``voxel`` in the display image of ``plane``."""
    column = voxel[plane.horizontal_axis]
    if plane.flip_horizontal:
        column = shape[plane.horizontal_axis] - 1 - column
    return column, voxel[plane.vertical_axis]


def display_to_voxel(
    column: int, row: int, slice_index: int, shape: tuple[int, int, int], plane: Plane
) -> tuple[int, int, int]:
    """The voxel under display pixel (``column``, ``row``) of slice ``slice_index``; clamped into the volume."""
    columns, rows = display_shape(shape, plane)
    column = min(max(int(column), 0), columns - 1)
    row = min(max(int(row), 0), rows - 1)
    voxel = [0, 0, 0]
    voxel[plane.horizontal_axis] = columns - 1 - column if plane.flip_horizontal else column
    voxel[plane.vertical_axis] = row
    voxel[plane.normal_axis] = min(max(int(slice_index), 0), shape[plane.normal_axis] - 1)
    return voxel[0], voxel[1], voxel[2]
