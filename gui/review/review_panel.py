"""The review panel (a dock): how the segmentation is drawn, and stepping through its uncertain slices.

Per-label visibility and colour (click a swatch to choose another colour), fill or outline, the BraTS
regions WT/TC/ET instead of the labels, opacity, the uncertainty overlay and a "next uncertain slice" button.
Every control writes to the viewer model (``ViewerModel.set_overlay_style`` / ``set_overlay``) and follows
it back, so menu shortcuts and the panel never disagree.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QDockWidget,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from engine.labels import LABEL_INFO
from gui.viewer.overlay_style import REGION_ORDER, next_uncertain_slice, uncertain_voxels_per_slice
from gui.viewer.viewer_model import ViewerModel

log = logging.getLogger(__name__)

REGION_TIPS = {"WT": "whole tumour (labels 1, 2, 4)", "TC": "tumour core (labels 1, 4)", "ET": "enhancing tumour (4)"}
LABEL_KEYS = {1: "Alt+1", 2: "Alt+2", 4: "Alt+3"}
UNCERTAINTY_AXIS = 2  # "next uncertain slice" steps through axial slices


class ReviewPanel(QDockWidget):
    """Overlay style controls and uncertainty review for ``model``."""

    def __init__(self, model: ViewerModel, parent: QWidget | None = None) -> None:
        super().__init__("Review", parent)
        self.setObjectName("review-dock")
        self.model = model
        self._uncertain_counts: np.ndarray | None = None
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self._labels_box())
        layout.addWidget(self._regions_box())
        layout.addWidget(self._display_box())
        layout.addWidget(self._uncertainty_box())
        layout.addStretch(1)
        self.setWidget(body)
        self._connect_model(True)
        self.sync()

    def _connect_model(self, connect: bool) -> None:
        pairs = ((self.model.overlay_changed, self.sync), (self.model.case_changed, self._on_case_changed),
                 (self.model.label_changed, self._on_label_changed))
        for event, callback in pairs:
            (event.connect if connect else event.disconnect)(callback)

    def shutdown(self) -> None:
        """Stop following the model (the window is closing)."""
        self._connect_model(False)

    # --- construction -----------------------------------------------------------------------------------
    def _labels_box(self) -> QGroupBox:
        box = QGroupBox("Labels")
        form = QFormLayout(box)
        self.label_checks: dict[int, QCheckBox] = {}
        self.color_buttons: dict[int, QPushButton] = {}
        for value, info in LABEL_INFO.items():
            check = QCheckBox(f"{info.short} ({value})")
            check.setToolTip(f"Show label {value}: {info.name} ({LABEL_KEYS[value]})")
            check.toggled.connect(lambda on, v=value: self.set_label_visible(v, on))
            button = QPushButton()
            button.setFixedSize(36, 18)
            button.setToolTip(f"Colour of {info.short}: click to change")
            button.clicked.connect(lambda _=False, v=value: self._choose_color(v))
            form.addRow(check, button)
            self.label_checks[value], self.color_buttons[value] = check, button
        return box

    def _regions_box(self) -> QGroupBox:
        box = QGroupBox("Regions (instead of labels)")
        row = QHBoxLayout(box)
        self.region_checks: dict[str, QCheckBox] = {}
        for region in REGION_ORDER:
            check = QCheckBox(region)
            check.setToolTip(f"Show the {REGION_TIPS[region]} as one region")
            check.toggled.connect(lambda on, r=region: self.set_region_shown(r, on))
            row.addWidget(check)
            self.region_checks[region] = check
        return box

    def _display_box(self) -> QGroupBox:
        box = QGroupBox("Display")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.fill_radio = QRadioButton("Fill")
        self.outline_radio = QRadioButton("Outline")
        self.fill_radio.setToolTip("Filled, semi-transparent labels (O toggles)")
        self.outline_radio.setToolTip("Label outlines only: the anatomy inside stays visible (O toggles)")
        self.outline_radio.toggled.connect(lambda on: self.model.set_overlay_style(outline=on))
        row.addWidget(self.fill_radio)
        row.addWidget(self.outline_radio)
        layout.addLayout(row)
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Opacity"))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("Opacity of the filled labels")
        self.opacity_slider.valueChanged.connect(lambda value: self.model.set_overlay(opacity=value / 100))
        opacity_row.addWidget(self.opacity_slider)
        layout.addLayout(opacity_row)
        return box

    def _uncertainty_box(self) -> QGroupBox:
        box = QGroupBox("Uncertainty")
        layout = QVBoxLayout(box)
        self.uncertainty_check = QCheckBox("Show uncertainty (magenta)")
        self.uncertainty_check.setToolTip("Voxel-wise entropy of the model's outputs (Ctrl+U)")
        self.uncertainty_check.toggled.connect(lambda on: self.model.set_overlay_style(uncertainty_visible=on))
        self.next_button = QPushButton("Next uncertain slice")
        self.next_button.setToolTip("Jump to the next axial slice with uncertain voxels (N)")
        self.next_button.clicked.connect(self.next_uncertain_slice)
        self.uncertainty_info = QLabel()
        layout.addWidget(self.uncertainty_check)
        layout.addWidget(self.next_button)
        layout.addWidget(self.uncertainty_info)
        return box

    # --- actions ----------------------------------------------------------------------------------------
    def set_label_visible(self, value: int, visible: bool) -> None:
        hidden = set(self.model.overlay_style.hidden_labels)
        (hidden.discard if visible else hidden.add)(value)
        self.model.set_overlay_style(hidden_labels=hidden)

    def toggle_label(self, value: int) -> None:
        self.set_label_visible(value, not self.model.overlay_style.label_visible(value))

    def set_region_shown(self, region: str, shown: bool) -> None:
        regions = set(self.model.overlay_style.regions)
        (regions.add if shown else regions.discard)(region)
        self.model.set_overlay_style(regions=regions)

    def set_label_color(self, value: int, rgb: tuple[int, int, int]) -> None:
        colors = dict(self.model.overlay_style.label_colors)
        colors[value] = tuple(int(c) for c in rgb)
        self.model.set_overlay_style(label_colors=colors)

    def _choose_color(self, value: int) -> None:
        color = QColorDialog.getColor(QColor(*self.model.overlay_style.label_colors[value]), self,
                                      f"Colour of {LABEL_INFO[value].short}")
        if color.isValid():
            self.set_label_color(value, (color.red(), color.green(), color.blue()))

    def next_uncertain_slice(self) -> int | None:
        """Move the cursor to the next axial slice with uncertain voxels (to their centre); returns the slice."""
        uncertainty = self.model.uncertainty
        if uncertainty is None:
            self.uncertainty_info.setText("No uncertainty map")
            return None
        if self._uncertain_counts is None:
            self._uncertain_counts = uncertain_voxels_per_slice(uncertainty, UNCERTAINTY_AXIS)
        index = next_uncertain_slice(self._uncertain_counts, self.model.cursor[UNCERTAINTY_AXIS])
        if index is None:
            self.uncertainty_info.setText("No uncertain slice")
            return None
        plane = np.take(uncertainty, index, axis=UNCERTAINTY_AXIS)
        centre = np.argwhere(plane >= plane.max() * 0.5).mean(axis=0).round().astype(int)
        self.model.set_cursor((int(centre[0]), int(centre[1]), index))
        if not self.model.overlay_style.uncertainty_visible:
            self.model.set_overlay_style(uncertainty_visible=True)
        self.uncertainty_info.setText(f"Axial slice {index + 1}: {int(self._uncertain_counts[index])} uncertain voxels")
        return index

    def _on_label_changed(self) -> None:
        self._uncertain_counts = None
        self.sync()

    def _on_case_changed(self) -> None:
        """Another case: nothing said about the previous one's slices stays on screen."""
        self.uncertainty_info.clear()
        self._on_label_changed()

    # --- model -> widgets -------------------------------------------------------------------------------
    def sync(self) -> None:
        """Show the model's overlay settings in the controls (without feeding them back)."""
        style = self.model.overlay_style
        widgets = [*self.label_checks.values(), *self.region_checks.values(), self.fill_radio,
                   self.outline_radio, self.opacity_slider, self.uncertainty_check]
        for widget in widgets:
            widget.blockSignals(True)
        for value, check in self.label_checks.items():
            check.setChecked(style.label_visible(value))
            check.setEnabled(not style.regions)
            rgb = style.label_colors[value]
            self.color_buttons[value].setStyleSheet(f"background-color: rgb{tuple(rgb)}; border: 1px solid #777;")
        for region, check in self.region_checks.items():
            check.setChecked(region in style.regions)
        self.outline_radio.setChecked(style.outline)
        self.fill_radio.setChecked(not style.outline)
        self.opacity_slider.setValue(round(self.model.overlay_opacity * 100))
        has_uncertainty = self.model.uncertainty is not None
        self.uncertainty_check.setChecked(style.uncertainty_visible)
        self.uncertainty_check.setEnabled(has_uncertainty)
        self.next_button.setEnabled(has_uncertainty)
        for widget in widgets:
            widget.blockSignals(False)
