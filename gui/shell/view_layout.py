"""The main window's view layouts (a mixin of ``gui.shell.main_window.MainWindow``): the 2 x 2 planes (axial,
coronal, sagittal, 3D) and the modality grid in one stacked widget, a maximised view and its way back.

Expects ``axial_view``, ``coronal_view``, ``sagittal_view``, ``volume_view``, ``modality_grid``, ``slice_views``,
``grid_views``, ``all_views``, ``maximized_view``, ``grid_action`` and ``grid_plane_actions`` (set by
``MainWindow.__init__`` and ``gui.shell.window_menus.build_menus``).
"""

from __future__ import annotations

from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QApplication, QGridLayout, QStackedWidget, QWidget

from gui.viewer.orientation import Plane


class ViewLayoutMixin:
    """Layout modes of the central widget: planes or modality grid, one view maximised or all shown."""

    def _build_layout(self) -> None:
        layout_page = QWidget()
        grid = QGridLayout(layout_page)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setSpacing(2)
        grid.addWidget(self.axial_view, 0, 0)
        grid.addWidget(self.coronal_view, 0, 1)
        grid.addWidget(self.sagittal_view, 1, 0)
        grid.addWidget(self.volume_view, 1, 1)
        for index in (0, 1):
            grid.setRowStretch(index, 1)
            grid.setColumnStretch(index, 1)
        self.stack = QStackedWidget()
        self.stack.addWidget(layout_page)
        self.stack.addWidget(self.modality_grid)
        self.setCentralWidget(self.stack)

    def reset_views(self) -> None:
        """Every view back to its whole-image framing."""
        for view in self.slice_views:
            view.reset_view()
        self.modality_grid.reset_views()
        self.volume_view.reset_camera()

    def set_grid_mode(self, on: bool) -> None:
        """Show the modality grid (True) or the 2 x 2 plane layout (False)."""
        self.restore_views()
        self.stack.setCurrentIndex(1 if on else 0)
        self.grid_action.blockSignals(True)
        self.grid_action.setChecked(bool(on))
        self.grid_action.blockSignals(False)
        self.statusBar().showMessage("Modality grid: T1, T1ce, T2, FLAIR at the same slice" if on else
                                     "Axial, coronal, sagittal and 3D", 3000)

    def set_grid_plane(self, plane: Plane) -> None:
        """Show ``plane`` in the modality grid, and the grid itself."""
        self.modality_grid.set_plane(plane)
        for name, action in self.grid_plane_actions.items():
            action.setChecked(name == plane.name)
        self.set_grid_mode(True)

    def toggle_maximized(self, view: QWidget) -> None:
        """Maximise ``view`` within its layout (the 2 x 2 planes or the modality grid), or restore the layout."""
        if self.maximized_view is view:
            self.restore_views()
            return
        self.restore_views()
        siblings = self.grid_views if view in self.grid_views else (*self.slice_views, self.volume_view)
        for other in siblings:
            other.setVisible(other is view)
        row, column, _, _ = _grid_layout(view).getItemPosition(_grid_layout(view).indexOf(view))
        _set_stretches(_grid_layout(view), row, column)  # empty rows and columns would keep their stretch
        self.maximized_view = view

    def restore_views(self) -> None:
        """Back to the full layout after a maximised view."""
        for view in self.all_views:
            view.setVisible(True)
        for view in (self.axial_view, self.grid_views[0]):
            _set_stretches(_grid_layout(view), None, None)
        self.maximized_view = None

    def toggle_focused_view(self) -> None:
        """Maximise the view under the mouse (the axial view if none), or restore the layout."""
        if self.maximized_view is not None:
            self.restore_views()
            return
        under = QApplication.widgetAt(QCursor.pos())
        shown = [v for v in self.all_views if v.isVisible()]
        view = next((v for v in shown if under is not None and (v is under or v.isAncestorOf(under))), shown[0])
        self.toggle_maximized(view)


def _grid_layout(view: QWidget) -> QGridLayout:
    return view.parentWidget().layout()  # type: ignore[return-value]


def _set_stretches(grid: QGridLayout, row: int | None, column: int | None) -> None:
    """Stretch only ``row`` and ``column`` of a 2 x 2 grid (None: both rows and columns evenly)."""
    for index in (0, 1):
        grid.setRowStretch(index, 1 if row is None or index == row else 0)
        grid.setColumnStretch(index, 1 if column is None or index == column else 0)
