"""Live measurements: volumes per label and region, lesion count and the RANO diameters of the ET.

The panel recomputes ``engine.measure.measure`` on the shown label map a short while after the last change
(debounced, so a brush drag costs one computation when it pauses, not one per dab). "Copy as table" puts the
rows on the clipboard as tab-separated text; "Show RANO slice" moves the crosshair onto the measured slice,
at the middle of the longest diameter.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.measure import Measurements, as_tsv, measure, measurement_rows
from gui.viewer.viewer_model import ViewerModel

log = logging.getLogger(__name__)

DEBOUNCE_MS = 300


class MeasurePanel(QWidget):
    """A two-column table of measurements that follows ``model.label``."""

    def __init__(self, model: ViewerModel, parent: QWidget | None = None, debounce_ms: int = DEBOUNCE_MS) -> None:
        super().__init__(parent)
        self.model = model
        self.measurements: Measurements | None = None
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Measurement", "Value"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.rano_label = QLabel()
        self.rano_label.setWordWrap(True)
        self.copy_button = QPushButton("Copy as table")
        self.copy_button.clicked.connect(self.copy_table)
        self.show_button = QPushButton("Show RANO slice")
        self.show_button.clicked.connect(self.show_rano_slice)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.show_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.rano_label)
        layout.addLayout(buttons)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(self.refresh)
        model.label_changed.connect(self.schedule)
        model.case_changed.connect(self.schedule)
        self.refresh()

    def schedule(self) -> None:
        """Recompute after ``DEBOUNCE_MS`` without further changes."""
        self.timer.start()

    def refresh(self) -> None:
        """Measure the shown label map now."""
        self.timer.stop()
        label = self.model.label
        self.measurements = None if label is None else measure(label, self.model.spacing)
        self._fill()

    def _fill(self) -> None:
        rows = measurement_rows(self.measurements) if self.measurements is not None else []
        self.table.setRowCount(len(rows))
        for row, (name, value) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            item = QTableWidgetItem(value)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, item)
        rano = self.measurements.bidimensional if self.measurements is not None else None
        # The diameters are drawn on their axial slice in the viewer (RANO: "shown where measured").
        self.model.set_measurement_lines([rano.longest_ends, rano.perpendicular_ends] if rano is not None else [])
        self.show_button.setEnabled(rano is not None)
        self.copy_button.setEnabled(self.measurements is not None)
        if self.measurements is None:
            self.rano_label.setText("No segmentation")
        elif rano is None:
            self.rano_label.setText("No enhancing tumour: no RANO measurement")
        else:
            (a, b), (c, d) = rano.longest_ends, rano.perpendicular_ends
            self.rano_label.setText(
                f"RANO on axial slice {rano.slice_index}: {rano.longest_mm:.1f} mm (voxels {a[:2]}-{b[:2]}) x "
                f"{rano.perpendicular_mm:.1f} mm (voxels {c[:2]}-{d[:2]}) = {rano.product_mm2:.0f} mm²")

    def copy_table(self) -> str:
        """Put the measurements on the clipboard as tab-separated rows; returns the text."""
        if self.timer.isActive():
            self.refresh()
        text = as_tsv(self.measurements) if self.measurements is not None else ""
        QApplication.clipboard().setText(text)
        return text

    def show_rano_slice(self) -> None:
        """Move the crosshair to the middle of the longest ET diameter on its slice."""
        rano = self.measurements.bidimensional if self.measurements is not None else None
        if rano is not None:
            a, b = rano.longest_ends
            self.model.set_cursor(tuple((p + q) // 2 for p, q in zip(a, b, strict=True)))


def install(window: QMainWindow) -> MeasurePanel:
    """Add the measurement dock (and its toggle in ``window.menus["View"]`` if present); returns the panel."""
    panel = MeasurePanel(window.model, window)  # type: ignore[attr-defined]
    dock = QDockWidget("Measurements", window)
    dock.setObjectName("measure-dock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    menus = getattr(window, "menus", {})
    menu = menus["View"] if "View" in menus else window.menuBar().addMenu("&Measurements")
    menu.addAction(dock.toggleViewAction())
    panel.dock = dock  # type: ignore[attr-defined]
    return panel
