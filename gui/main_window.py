"""The main window: four views (axial, coronal, sagittal, 3D) in a 2 x 2 grid, menus, toolbar, status bar.

Open a case with File > Open Case... or by dropping its folder (or one of its NIfTI files) on the window.
Loading runs in the background (``gui.case_loader``); a bad folder gives a message box and leaves the
current case on screen.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QWidget,
)

from engine.case import CaseError, default_demo_case
from engine.labels import LABEL_INFO
from gui.case_loader import CaseLoader, LoadedCase
from gui.orientation import AXIAL, CORONAL, SAGITTAL
from gui.slice_view import SliceView
from gui.viewer_model import DISPLAY_NAMES, ViewerModel
from gui.volume_view import VolumeView

log = logging.getLogger(__name__)

CONTROLS_HELP = (
    "<b>Slice views</b><br>"
    "Left click / drag: move the crosshair (all views follow)<br>"
    "Mouse wheel, Up/Down, Page Up/Page Down: previous / next slice<br>"
    "Right drag: window (left-right) and level (up-down)<br>"
    "Middle drag: pan; Ctrl + wheel: zoom; R: reset zoom and pan<br><br>"
    "<b>3D view</b><br>Left drag: rotate; wheel / right drag: zoom; middle drag: pan<br><br>"
    "<b>Keys</b><br>Ctrl+1..4: T1, T1ce, T2, FLAIR; Ctrl+L: label overlay on/off"
)


class MainWindow(QMainWindow):
    """RevSeg's viewer window.

    Signals:
        case_loaded(str case_id): a case is on screen.
        load_failed(str message): opening a folder failed (the message was shown to the user).
    """

    case_loaded = Signal(str)
    load_failed = Signal(str)

    def __init__(self, model: ViewerModel | None = None) -> None:
        super().__init__()
        self.model = model or ViewerModel()
        self.setWindowTitle("RevSeg")
        self.setAcceptDrops(True)
        self.loader = CaseLoader(self)
        self.loader.loaded.connect(self._on_case_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.axial_view = SliceView(self.model, AXIAL)
        self.coronal_view = SliceView(self.model, CORONAL)
        self.sagittal_view = SliceView(self.model, SAGITTAL)
        self.volume_view = VolumeView(self.model)
        self._build_layout()
        self._build_actions()
        self._build_toolbar()
        self._cursor_label = QLabel()
        self.statusBar().addPermanentWidget(self._cursor_label)
        self.statusBar().showMessage("Open a case folder (File > Open Case...) or drop one here")
        self.model.case_changed.connect(self._on_case_changed)
        self.model.cursor_changed.connect(self._update_cursor_status)
        self.model.modality_changed.connect(self._on_modality_changed)
        self._closed = False

    @property
    def slice_views(self) -> tuple[SliceView, SliceView, SliceView]:
        return self.axial_view, self.coronal_view, self.sagittal_view

    # --- construction -----------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        central = QWidget()
        grid = QGridLayout(central)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setSpacing(2)
        grid.addWidget(self.axial_view, 0, 0)
        grid.addWidget(self.coronal_view, 0, 1)
        grid.addWidget(self.sagittal_view, 1, 0)
        grid.addWidget(self.volume_view, 1, 1)
        for index in (0, 1):
            grid.setRowStretch(index, 1)
            grid.setColumnStretch(index, 1)
        self.setCentralWidget(central)

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = self._action("&Open Case...", self.choose_case_folder, QKeySequence.StandardKey.Open)
        file_menu.addAction(self.open_action)
        file_menu.addAction(self._action("Open &Demo Case", self.open_demo_case))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self._action("&Reset Views", self.reset_views, "Ctrl+R"))
        view_menu.addAction(self._action("Reset &Window/Level", lambda: self.model.reset_window_level(),
                                         "Ctrl+W"))
        self.overlay_action = self._action("Show &Label Overlay", self._toggle_overlay, "Ctrl+L")
        self.overlay_action.setCheckable(True)
        self.overlay_action.setChecked(self.model.overlay_visible)
        view_menu.addAction(self.overlay_action)
        view_menu.addSeparator()
        for number, modality in enumerate(DISPLAY_NAMES, start=1):
            action = self._action(DISPLAY_NAMES[modality], lambda m=modality: self.set_modality(m), f"Ctrl+{number}")
            view_menu.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&Controls", self._show_controls, QKeySequence.StandardKey.HelpContents))
        help_menu.addAction(self._action("&About RevSeg", self._show_about))

    def _action(self, text: str, slot: object, shortcut: object = None) -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        self.addAction(action)
        return action

    def _build_toolbar(self) -> None:
        toolbar = self.addToolBar("Display")
        toolbar.setObjectName("display-toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.open_action)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Contrast "))
        self.modality_combo = QComboBox()
        self.modality_combo.setToolTip("Contrast shown in all views (Ctrl+1..4)")
        self.modality_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.modality_combo.currentIndexChanged.connect(self._on_modality_combo)
        toolbar.addWidget(self.modality_combo)
        toolbar.addSeparator()
        self.overlay_check = QCheckBox("Labels")
        self.overlay_check.setToolTip(_legend_tooltip())
        self.overlay_check.setChecked(self.model.overlay_visible)
        self.overlay_check.toggled.connect(lambda on: self.model.set_overlay(visible=on))
        toolbar.addWidget(self.overlay_check)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(round(self.model.overlay_opacity * 100))
        self.opacity_slider.setFixedWidth(110)
        self.opacity_slider.setToolTip("Label overlay opacity")
        self.opacity_slider.valueChanged.connect(lambda value: self.model.set_overlay(opacity=value / 100))
        toolbar.addWidget(self.opacity_slider)
        self.model.overlay_changed.connect(self._sync_overlay_controls)

    # --- opening cases ----------------------------------------------------------------------------------
    def open_case(self, folder: str | Path) -> None:
        """Start loading ``folder`` in the background; the views switch when it is ready."""
        folder = Path(folder)
        self.statusBar().showMessage(f"Loading {folder.name} ...")
        self.loader.load(folder)

    def open_demo_case(self) -> None:
        try:
            self.open_case(default_demo_case())
        except CaseError as error:
            self._show_error(str(error))

    def choose_case_folder(self) -> None:
        start = str(self.model.case.folder.parent) if self.model.case is not None else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open Case Folder", start)
        if folder:
            self.open_case(folder)

    @Slot(object)
    def _on_case_loaded(self, loaded: LoadedCase) -> None:
        if self._closed:
            return
        self.model.set_case(loaded.case, loaded.window_levels)
        case = loaded.case
        self.statusBar().showMessage(
            f"Opened {case.case_id}: {', '.join(DISPLAY_NAMES[m] for m in case.volumes)}"
            f"{' + labels' if case.label is not None else ''}, {case.shape[0]} x {case.shape[1]} x {case.shape[2]},"
            f" stored {''.join(case.native_axcodes)}", 10_000)
        self.case_loaded.emit(case.case_id)

    @Slot(str, str)
    def _on_load_failed(self, folder: str, message: str) -> None:
        if self._closed:
            return
        self.statusBar().showMessage(f"Could not open {Path(folder).name}", 10_000)
        self._show_error(message)
        self.load_failed.emit(message)

    def _show_error(self, message: str) -> None:
        QMessageBox.critical(self, "Cannot open case", message)

    # --- model -> widgets -------------------------------------------------------------------------------
    def _on_case_changed(self) -> None:
        case = self.model.case
        self.setWindowTitle(f"RevSeg - {case.case_id}" if case is not None else "RevSeg")
        self.modality_combo.blockSignals(True)
        self.modality_combo.clear()
        for modality in self.model.modalities:
            self.modality_combo.addItem(DISPLAY_NAMES[modality], modality)
        self.modality_combo.blockSignals(False)
        self._on_modality_changed()
        has_label = self.model.label is not None
        self.overlay_check.setEnabled(has_label)
        self.opacity_slider.setEnabled(has_label)
        self._update_cursor_status()

    def _on_modality_changed(self) -> None:
        index = self.modality_combo.findData(self.model.active_modality)
        if index >= 0 and index != self.modality_combo.currentIndex():
            self.modality_combo.blockSignals(True)
            self.modality_combo.setCurrentIndex(index)
            self.modality_combo.blockSignals(False)
        self._update_cursor_status()

    def _on_modality_combo(self, index: int) -> None:
        modality = self.modality_combo.itemData(index)
        if modality:
            self.model.set_active_modality(modality)

    def set_modality(self, modality: str) -> None:
        """Show ``modality`` if the current case has it (does nothing otherwise)."""
        if modality in self.model.modalities:
            self.model.set_active_modality(modality)

    def _update_cursor_status(self, *_: object) -> None:
        if self.model.case is None:
            self._cursor_label.setText("")
            return
        i, j, k = self.model.cursor
        x, y, z = self.model.cursor_world
        value = self.model.value_at_cursor()
        text = f"voxel ({i}, {j}, {k})   RAS ({x:.1f}, {y:.1f}, {z:.1f}) mm   "
        text += f"{DISPLAY_NAMES[self.model.active_modality or 't1']} {value:.1f}"
        label = self.model.label_at_cursor()
        if label is not None:
            text += f"   label {label}" + (f" ({LABEL_INFO[label].short})" if label in LABEL_INFO else "")
        self._cursor_label.setText(text)

    def _toggle_overlay(self) -> None:
        self.model.set_overlay(visible=self.overlay_action.isChecked())

    def _sync_overlay_controls(self) -> None:
        for widget, value in ((self.overlay_action, self.model.overlay_visible),
                              (self.overlay_check, self.model.overlay_visible)):
            widget.blockSignals(True)
            widget.setChecked(value)
            widget.blockSignals(False)
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(round(self.model.overlay_opacity * 100))
        self.opacity_slider.blockSignals(False)

    def reset_views(self) -> None:
        for view in self.slice_views:
            view.reset_view()
        self.volume_view.reset_camera()

    # --- drag and drop ----------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if _dropped_folder(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        folder = _dropped_folder(event)
        if folder is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_case(folder)

    # --- help and teardown ------------------------------------------------------------------------------
    def _show_controls(self) -> None:
        QMessageBox.information(self, "RevSeg controls", CONTROLS_HELP)

    def _show_about(self) -> None:
        from engine import __version__

        QMessageBox.about(self, "About RevSeg", f"<b>RevSeg {__version__}</b><br>Brain-tumour MRI segmentation "
                          "workstation.<br>Research software, NOT FOR CLINICAL USE.")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Finalise every VTK render window before the widgets go (a must for a clean X/Xvfb teardown)."""
        if not self._closed:
            self._closed = True
            self.loader.wait()
            for view in (*self.slice_views, self.volume_view):
                view.shutdown()
        super().closeEvent(event)


def _dropped_folder(event: QDragEnterEvent | QDropEvent) -> Path | None:
    """The case folder a drag carries: a local folder, or the folder of a dropped file."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.is_dir():
                return path
            if path.is_file():
                return path.parent
    return None


def _legend_tooltip() -> str:
    rows = "".join(
        f"<tr><td style='background-color: rgb{info.rgb}'>&nbsp;&nbsp;&nbsp;</td><td>{value} {info.short}: "
        f"{info.name}</td></tr>" for value, info in LABEL_INFO.items()
    )
    return f"Show the label map (Ctrl+L)<table>{rows}</table>"
