"""A small in-memory case on a ViewerModel and a bare main window for the editing, measurement, report and
autosave tests (no VTK needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QMainWindow, QWidget

from engine.case import Case, Volume
from gui.viewer.viewer_model import ViewerModel

SHAPE = (40, 36, 20)
SPACING = (1.0, 1.0, 2.0)


def tumour_label(shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    i, j, k = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    distance = ((i - 15) / 8.0) ** 2 + ((j - 18) / 6.0) ** 2 + ((k - 10) / 4.0) ** 2
    label = np.zeros(shape, np.uint8)
    label[distance < 1.0] = 2
    label[distance < 0.45] = 4
    label[distance < 0.1] = 1
    return label


def make_case(folder: Path, case_id: str = "EDIT-001", with_label: bool = True) -> Case:
    folder.mkdir(parents=True, exist_ok=True)
    affine = np.diag([*SPACING, 1.0])
    i, j, k = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in SHAPE), indexing="ij")
    volumes = {m: Volume(m, (100.0 + 20 * n + 3 * i + j + k).astype(np.float32), affine, folder / f"{case_id}_{m}.nii.gz")
               for n, m in enumerate(("t1", "t1ce", "t2", "flair"))}
    return Case(case_id, folder, volumes, tumour_label() if with_label else None, affine)


def make_model(folder: Path, ai: bool = True, with_label: bool = True) -> ViewerModel:
    """A model showing the case; with ``ai`` its label map arrives as an AI result (source "ai")."""
    model = ViewerModel()
    case = make_case(folder, with_label=with_label)
    model.set_case(case)
    if ai and with_label:
        model.set_segmentation(case.label.copy(), source="ai")
    return model


class BareWindow(QMainWindow):
    """What ``install(window)`` needs of the main window: a model, a menu bar and dock areas."""

    def __init__(self, model: ViewerModel) -> None:
        super().__init__()
        self.model = model
        self.setCentralWidget(QWidget())  # stands in for the views
        self.tools_given: list[object] = []

    def set_edit_tool(self, tool: object) -> None:
        self.tools_given.append(tool)
