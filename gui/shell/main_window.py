"""The main window: four views (axial, coronal, sagittal, 3D) in a 2 x 2 grid, menus, toolbar, status bar.

Double-click a view to maximise it (again to go back). View > Modality Grid (Ctrl+G) swaps the 2 x 2 layout
for the four contrasts side by side. The review dock (``gui.review.review_panel``) sets how labels are drawn.
Other modules plug in through ``window.menus[name]``, ``window.toolbar`` and ``set_edit_tool``.

Open a case with File > Open Case... or by dropping its folder (or one of its NIfTI files) on the window.
Loading runs in the background (``gui.study.case_loader``); a bad folder gives a message box and leaves the
current case on screen. The toolbar's Open button always names the action of Ctrl+O, and the window's size,
position and dock layout are saved on close and restored at the first show (``gui.shell.window_layout``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal, Slot
from PySide6.QtGui import (
    QActionEvent,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QWidget,
)

from engine.case import Case, CaseError, default_demo_case
from engine.labels import LABEL_INFO
from engine.notice import STATUS_NOTICE
from engine.patient import PatientInfo, read_patient_info
from gui.review.review_panel import ReviewPanel
from gui.shell.view_layout import ViewLayoutMixin
from gui.shell.window_layout import WindowLayoutMixin
from gui.shell.window_menus import ControlsDialog, build_menus, controls_html, legend_tooltip
from gui.study.case_loader import CaseLoader, LoadedCase
from gui.viewer.modality_grid import ModalityGrid
from gui.viewer.orientation import AXIAL, CORONAL, SAGITTAL
from gui.viewer.slice_interaction import EditTool
from gui.viewer.slice_view import SliceView
from gui.viewer.viewer_model import DISPLAY_NAMES, ViewerModel, window_presets
from gui.viewer.volume_view import VolumeView

log = logging.getLogger(__name__)


class MainWindow(ViewLayoutMixin, WindowLayoutMixin, QMainWindow):
    """RevSeg's viewer window.

    Signals:
        case_loaded(str case_id): a case is on screen.
        load_failed(str message): opening a folder failed (the message was shown to the user).
    """

    case_loaded = Signal(str)
    load_failed = Signal(str)

    def __init__(self, model: ViewerModel | None = None, layout_store: QSettings | None = None) -> None:
        """Args:
            model: the viewer model (default: a new one).
            layout_store: where the window layout is saved on close and restored at the first show (default:
                the user's RevSeg settings).
        """
        super().__init__()
        self.model = model or ViewerModel()
        self.layout_store = layout_store
        self.layout_restored = False
        self.interaction_preset = "slicer"
        self.controls_dialog: QDialog | None = None
        self.setWindowTitle("RevSeg")
        self.setAcceptDrops(True)
        self._closed = False
        self.menus: dict = {}
        #: called before closing; any False keeps the window open (e.g. "unsaved edits: save?" answered Cancel)
        self.close_guards: list[Callable[[], bool]] = []
        #: called before another case replaces the shown one; any False keeps the shown case (Cancel)
        self.replace_guards: list[Callable[[], bool]] = []
        #: the shown study's identity (``engine.patient``), None without a case
        self.patient: PatientInfo | None = None
        #: called once when the window closes, before the views are finalised (stop workers, timers)
        self.shutdown_hooks: list[Callable[[], None]] = []
        self.loader = CaseLoader(self)
        self.loader.loaded.connect(self._on_case_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.axial_view = SliceView(self.model, AXIAL)
        self.coronal_view = SliceView(self.model, CORONAL)
        self.sagittal_view = SliceView(self.model, SAGITTAL)
        self.volume_view = VolumeView(self.model)
        self.modality_grid = ModalityGrid(self.model)
        self.review_panel = ReviewPanel(self.model, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.review_panel)
        self.maximized_view: QWidget | None = None
        self._hover: tuple[tuple[int, int, int], str | None] | None = None
        self._build_layout()
        build_menus(self)
        self._build_toolbar()
        self._cursor_label = QLabel()
        self.statusBar().addPermanentWidget(self._cursor_label)
        # Its own permanent widget, never shrunk below its text: temporary messages cannot clip the notice.
        self.notice_label = QLabel(STATUS_NOTICE)
        self.notice_label.setObjectName("clinicalNotice")
        self.notice_label.setStyleSheet("QLabel { color: #b00020; font-weight: bold; padding: 0 6px; }")
        self.notice_label.setMinimumWidth(self.notice_label.sizeHint().width())
        self.statusBar().addPermanentWidget(self.notice_label)
        self.statusBar().showMessage("Open a case folder (Ctrl+O, or Open in the toolbar) or drop one here")
        for view in self.all_views:
            view.vtk_widget.installEventFilter(self)
        for view in self.editable_views:
            view.hovered.connect(lambda voxel, v=view: self._on_hover(voxel, v.modality))
        self.model.case_changed.connect(self._on_case_changed)
        self.model.cursor_changed.connect(self._update_cursor_status)
        self.model.modality_changed.connect(self._on_modality_changed)
        self.model.overlay_changed.connect(self._sync_overlay_controls)
        self.model.label_changed.connect(self._on_label_changed)
        self._sync_overlay_controls()  # the View menu's check marks show the real state from the start
        self.menus["File"].installEventFilter(self)  # an action taking over Ctrl+O becomes the toolbar's Open

    @property
    def slice_views(self) -> tuple[SliceView, SliceView, SliceView]:
        return self.axial_view, self.coronal_view, self.sagittal_view

    @property
    def grid_views(self) -> tuple[SliceView, ...]:
        return tuple(self.modality_grid.views.values())

    @property
    def editable_views(self) -> tuple[SliceView, ...]:
        """Every slice view: the three planes and the modality grid's cells."""
        return (*self.slice_views, *self.grid_views)

    @property
    def all_views(self) -> tuple[QWidget, ...]:
        return (*self.slice_views, self.volume_view, *self.grid_views)

    # --- construction -----------------------------------------------------------------------------------
    def _build_toolbar(self) -> None:
        self.toolbar = toolbar = self.addToolBar("Display")
        toolbar.setObjectName("display-toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.open_action)
        self.toolbar_open_action = self.open_action
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Contrast "))
        self.modality_combo = QComboBox()
        self.modality_combo.setToolTip("Contrast shown in all views (Ctrl+1..4)")
        self.modality_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.modality_combo.currentIndexChanged.connect(self._on_modality_combo)
        toolbar.addWidget(self.modality_combo)
        toolbar.addAction(self.grid_action)
        toolbar.addSeparator()
        self.overlay_check = QCheckBox("Labels")
        self.overlay_check.setToolTip(legend_tooltip())
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
        toolbar.addAction(self.outline_action)
        toolbar.addAction(self.uncertainty_action)
        toolbar.addAction(self.next_uncertain_action)
        toolbar.addSeparator()

    # --- opening cases ----------------------------------------------------------------------------------
    def open_case(self, folder: str | Path) -> None:
        """Start loading ``folder`` in the background; the views switch when it is ready."""
        folder = Path(folder)
        if not self.may_replace_case():
            return
        self.statusBar().showMessage(f"Loading {folder.name} ...")
        self.loader.load(folder)

    def may_replace_case(self) -> bool:
        """Whether another case may replace the shown one (asks first about unsaved edits)."""
        return all(guard() for guard in self.replace_guards)

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
        self.patient = None if case is None else read_patient_info(case.reference.source, case.folder)
        self.setWindowTitle(window_title(case, self.patient))
        self.modality_combo.blockSignals(True)
        self.modality_combo.clear()
        for modality in self.model.modalities:
            self.modality_combo.addItem(DISPLAY_NAMES[modality], modality)
        self.modality_combo.blockSignals(False)
        self._hover = None
        self._on_modality_changed()
        self._on_label_changed()

    def _on_label_changed(self) -> None:
        has_label = self.model.label is not None
        for widget in (self.overlay_check, self.opacity_slider, self.outline_action, *self.label_actions.values()):
            widget.setEnabled(has_label)
        has_uncertainty = self.model.uncertainty is not None
        self.uncertainty_action.setEnabled(has_uncertainty)
        self.next_uncertain_action.setEnabled(has_uncertainty)
        self._update_cursor_status()

    def _on_modality_changed(self) -> None:
        index = self.modality_combo.findData(self.model.active_modality)
        if index >= 0 and index != self.modality_combo.currentIndex():
            self.modality_combo.blockSignals(True)
            self.modality_combo.setCurrentIndex(index)
            self.modality_combo.blockSignals(False)
        modality = self.model.active_modality
        default = self.model.default_window_levels.get(modality or "")
        names = list(window_presets(modality, default)) if default is not None else []
        for index, action in enumerate(self.preset_actions):
            action.setVisible(index < len(names))
            if index < len(names):
                action.setText(f"{DISPLAY_NAMES[modality]}: {names[index]}")
        self._update_cursor_status()

    def _on_modality_combo(self, index: int) -> None:
        modality = self.modality_combo.itemData(index)
        if modality:
            self.model.set_active_modality(modality)

    def set_modality(self, modality: str) -> None:
        """Show ``modality`` if the current case has it (does nothing otherwise)."""
        if modality in self.model.modalities:
            self.model.set_active_modality(modality)

    def apply_window_preset(self, index: int) -> None:
        """Apply the ``index``-th window/level preset of the shown contrast (F5..F8)."""
        modality = self.model.active_modality
        default = self.model.default_window_levels.get(modality or "")
        if default is None:
            return
        names = list(window_presets(modality, default))
        if index < len(names):
            self.model.apply_window_preset(names[index])
            self.statusBar().showMessage(f"{DISPLAY_NAMES[modality]} window: {names[index]}", 3000)

    def _on_hover(self, voxel: tuple[int, int, int] | None, modality: str | None) -> None:
        self._hover = None if voxel is None else (voxel, modality)
        self._update_cursor_status()

    def _update_cursor_status(self, *_: object) -> None:
        case = self.model.case
        if case is None:
            self._cursor_label.setText("")
            return
        voxel, modality, where = self.model.cursor, self.model.active_modality, "crosshair"
        if self._hover is not None:
            (voxel, modality), where = self._hover, "mouse"
        volume = case.volumes.get(modality or "")
        x, y, z = (case.affine @ np.array([*voxel, 1.0]))[:3]
        # counted from 1, like the views' "Axial N/M" and every measurement (the arrays index from 0)
        text = f"{where}  voxel ({voxel[0] + 1}, {voxel[1] + 1}, {voxel[2] + 1})   RAS ({x:.1f}, {y:.1f}, {z:.1f}) mm"
        if volume is not None:
            text += f"   {DISPLAY_NAMES[modality]} {float(volume.data[voxel]):.1f}"
        if self.model.label is not None:
            label = int(self.model.label[voxel])
            text += f"   label {label}" + (f" ({LABEL_INFO[label].short})" if label in LABEL_INFO else "")
        if self.model.uncertainty is not None:
            text += f"   uncertainty {abs(float(self.model.uncertainty[voxel])):.2f}"
        self._cursor_label.setText(text)

    def _sync_overlay_controls(self) -> None:
        style = self.model.overlay_style
        checks = [(self.overlay_action, self.model.overlay_visible), (self.overlay_check, self.model.overlay_visible),
                  (self.outline_action, style.outline), (self.uncertainty_action, style.uncertainty_visible)]
        checks += [(action, style.label_visible(value)) for value, action in self.label_actions.items()]
        for widget, value in checks:
            widget.blockSignals(True)
            widget.setChecked(value)
            widget.blockSignals(False)
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(round(self.model.overlay_opacity * 100))
        self.opacity_slider.blockSignals(False)

    # --- editing ---------------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """A left double-click on a view (without an editing tool) maximises it or restores the layout; an action
        with the Open key added to the File menu becomes the toolbar's Open button."""
        if (event.type() == QEvent.Type.ActionAdded and watched is self.menus.get("File")
                and isinstance(event, QActionEvent)):
            self._adopt_open_action(event.action())
        elif (event.type() == QEvent.Type.MouseButtonDblClick and event.button() == Qt.MouseButton.LeftButton
                and not self._closed):
            view = next((v for v in self.all_views if v.vtk_widget is watched), None)
            if view is not None and getattr(view, "tool", None) is None:
                self.toggle_maximized(view)
        return super().eventFilter(watched, event)

    def set_edit_tool(self, tool: EditTool | None) -> None:
        """Give left-button input in every slice view to ``tool`` (None: back to the preset's left button)."""
        for view in self.editable_views:
            view.set_tool(tool)

    def refresh_brush_outline(self) -> None:
        """The brush size or label changed: redraw the outline under the mouse."""
        for view in self.editable_views:
            view.update_brush_outline()

    def set_interaction_preset(self, preset: str) -> None:
        """Mouse mapping of every slice view: "slicer" (3D Slicer) or "itksnap" (ITK-SNAP)."""
        for view in self.editable_views:
            view.set_interaction_preset(preset)
        self.interaction_preset = preset

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
    def show_controls(self) -> QDialog:
        """Help > Controls (F1): the mouse and every action with its keys, generated from the actions now."""
        if self.controls_dialog is None:
            self.controls_dialog = ControlsDialog(self)
        self.controls_dialog.refresh(controls_html(self, self.interaction_preset))
        self.controls_dialog.show()
        return self.controls_dialog

    def show_about(self) -> None:
        from engine import __version__

        QMessageBox.about(self, "About RevSeg", f"<b>RevSeg {__version__}</b><br>Brain-tumour MRI segmentation "
                          "workstation.<br>Research software, NOT FOR CLINICAL USE.")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Finalise every VTK render window before the widgets go (a must for a clean X/Xvfb teardown)."""
        if not self._closed and not all(guard() for guard in self.close_guards):
            event.ignore()
            return
        if not self._closed:
            self._closed = True
            if self.layout_restored:  # shown at least once: its geometry means something
                self.save_layout()
            for hook in self.shutdown_hooks:
                hook()
            self.loader.wait()
            self.review_panel.shutdown()
            for view in (*self.slice_views, self.volume_view):
                view.shutdown()
            self.modality_grid.shutdown()
        super().closeEvent(event)


def window_title(case: Case | None, patient: PatientInfo | None) -> str:
    """"RevSeg - Family, Given (ID) 2021-03-04 - case" (the patient part when known)."""
    if case is None:
        return "RevSeg"
    who = patient.title() if patient is not None else ""
    return f"RevSeg - {who} - {case.case_id}" if who and who != case.case_id else f"RevSeg - {case.case_id}"


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
