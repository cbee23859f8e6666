"""The modality grid: the four contrasts side by side (2 x 2) at the same slice, overlay and crosshair.

Each cell is an ordinary ``SliceView`` with a fixed contrast, so scrolling, clicking, zoom/pan and editing
work there as in the normal layout, and every cell follows the shared cursor: the four stay in step. Each
cell keeps its own contrast's window/level (the window/level drag of the mouse preset in a cell, left drag in
"3D Slicer" or Shift+left drag in "ITK-SNAP", changes that contrast's window).
"""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QWidget

from engine.case import MODALITIES
from gui.viewer.orientation import AXIAL, Plane
from gui.viewer.slice_view import SliceView
from gui.viewer.viewer_model import ViewerModel


class ModalityGrid(QWidget):
    """Four slice views of ``plane``, one per contrast (T1, T1ce / T2, FLAIR)."""

    def __init__(self, model: ViewerModel, plane: Plane = AXIAL, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.plane = plane
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        self.views: dict[str, SliceView] = {}
        for index, modality in enumerate(MODALITIES):
            view = SliceView(model, plane, modality=modality)
            grid.addWidget(view, index // 2, index % 2)
            self.views[modality] = view
        for index in (0, 1):
            grid.setRowStretch(index, 1)
            grid.setColumnStretch(index, 1)

    def set_plane(self, plane: Plane) -> None:
        """Show ``plane`` (axial, coronal or sagittal) in all four cells."""
        self.plane = plane
        for view in self.views.values():
            view.set_plane(plane)

    def reset_views(self) -> None:
        for view in self.views.values():
            view.reset_view()

    def shutdown(self) -> None:
        for view in self.views.values():
            view.shutdown()
