"""The edit dock: tool buttons, brush size, active label, 2D/3D, threshold range, interpolate, undo / redo.

``install(window)`` adds the dock, an Edit menu (in ``window.menus["Tools"]`` when the window has one) and the
window-wide shortcuts: B brush, E eraser, T threshold brush, X remove component, V navigate (N is "next uncertain
slice"), [ and ] brush size, I interpolate, Ctrl+Z undo, Ctrl+Y and Ctrl+Shift+Z redo. Choosing a tool hands it
to ``window.set_edit_tool``. The active tool is marked twice: its button is filled with the highlight colour
(a checked push button alone looks almost like the others in most styles), and its menu item is checked.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.editing.edit_controller import EditController

log = logging.getLogger(__name__)

TOOL_BUTTONS = (("navigate", "Navigate", "V"), ("brush", "Brush", "B"), ("eraser", "Eraser", "E"),
                ("threshold", "Threshold brush", "T"), ("component", "Remove lesion", "X"))
LABEL_CHOICES = ((1, "NCR (1)"), (2, "ED (2)"), (4, "ET (4)"))
# The checked (active) tool button: filled with the palette's highlight, bold, with a darker border.
ACTIVE_TOOL_STYLE = ("QPushButton:checked { background-color: palette(highlight); color: palette(highlighted-text);"
                     " font-weight: bold; border: 2px solid palette(dark); border-radius: 3px; padding: 4px; }")
UNDO_KEYS, REDO_KEYS = ("Ctrl+Z",), ("Ctrl+Shift+Z", "Ctrl+Y")


class EditPanel(QWidget):
    """Widgets bound to an ``EditController`` (both ways: the panel follows shortcut changes too)."""

    def __init__(self, controller: EditController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        layout = QVBoxLayout(self)
        layout.addLayout(self._tool_buttons())
        layout.addLayout(self._settings_form())
        layout.addLayout(self._action_buttons())
        layout.addStretch(1)
        controller.state_changed.connect(self.sync)
        controller.model.modality_changed.connect(self._default_range)
        controller.model.case_changed.connect(self._default_range)
        self.sync()

    def _tool_buttons(self) -> QGridLayout:
        grid = QGridLayout()
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QPushButton] = {}
        for number, (name, text, key) in enumerate(TOOL_BUTTONS):
            button = QPushButton(f"{text} ({key})")
            button.setCheckable(True)
            button.setStyleSheet(ACTIVE_TOOL_STYLE)
            button.clicked.connect(lambda _=False, n=name: self.controller.set_tool(n))
            self.tool_group.addButton(button)
            self.tool_buttons[name] = button
            grid.addWidget(button, number // 2, number % 2)
        return grid

    def _settings_form(self) -> QFormLayout:
        form = QFormLayout()
        self.size_spin = QDoubleSpinBox(suffix=" mm", minimum=0.0, maximum=50.0, singleStep=0.5, decimals=1)
        self.size_spin.setToolTip("Brush radius ([ smaller, ] larger)")
        self.size_spin.valueChanged.connect(lambda v: self.controller.update_settings(radius_mm=v))
        self.label_combo = QComboBox()
        for value, text in LABEL_CHOICES:
            self.label_combo.addItem(text, value)
        self.label_combo.currentIndexChanged.connect(
            lambda i: self.controller.update_settings(value=self.label_combo.itemData(i)))
        self.sphere_check = QCheckBox("3D sphere (else a disc in the slice)")
        self.sphere_check.toggled.connect(lambda on: self.controller.update_settings(sphere=on))
        self.foreground_check = QCheckBox("Paint inside the head only")
        self.foreground_check.setToolTip("The brush leaves the air around the head unpainted (the default is set "
                                         "in Segmentation > Settings...); the eraser works everywhere")
        self.foreground_check.toggled.connect(lambda on: self.controller.update_settings(foreground_only=on))
        self.low_spin, self.high_spin = (QDoubleSpinBox(minimum=-1e9, maximum=1e9, decimals=1) for _ in range(2))
        for spin in (self.low_spin, self.high_spin):
            spin.valueChanged.connect(self._range_edited)
        range_row = QHBoxLayout()
        range_row.addWidget(self.low_spin)
        range_row.addWidget(self.high_spin)
        form.addRow("Size", self.size_spin)
        form.addRow("Label", self.label_combo)
        form.addRow(self.sphere_check)
        form.addRow(self.foreground_check)
        form.addRow("Threshold range", range_row)
        return form

    def _action_buttons(self) -> QGridLayout:
        grid = QGridLayout()
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.interpolate_button = QPushButton("Fill between slices (I)")
        self.reset_button = QPushButton("Reset to AI result")
        self.undo_button.clicked.connect(self.controller.undo)
        self.redo_button.clicked.connect(self.controller.redo)
        self.interpolate_button.clicked.connect(lambda: self.controller.interpolate())
        self.reset_button.clicked.connect(self.controller.reset_to_ai)
        for number, button in enumerate((self.undo_button, self.redo_button, self.interpolate_button,
                                         self.reset_button)):
            grid.addWidget(button, number // 2, number % 2)
        return grid

    def _range_edited(self) -> None:
        self.controller.update_settings(intensity_range=(self.low_spin.value(), self.high_spin.value()))

    def _default_range(self) -> None:
        """Threshold range defaults to the shown contrast's window."""
        window = self.controller.model.window_level
        if window is not None:
            self.controller.update_settings(intensity_range=(window.low, window.high))

    def sync(self) -> None:
        """Show the controller's state without feeding it back."""
        controller, settings = self.controller, self.controller.settings
        widgets = (self.size_spin, self.label_combo, self.sphere_check, self.foreground_check, self.low_spin,
                   self.high_spin)
        for widget in widgets:
            widget.blockSignals(True)
        self.tool_buttons[controller.tool_name].setChecked(True)
        self.size_spin.setValue(settings.radius_mm)
        self.label_combo.setCurrentIndex(self.label_combo.findData(settings.value))
        self.sphere_check.setChecked(settings.sphere)
        self.foreground_check.setChecked(settings.foreground_only)
        self.low_spin.setValue(settings.intensity_range[0])
        self.high_spin.setValue(settings.intensity_range[1])
        for widget in widgets:
            widget.blockSignals(False)
        self.undo_button.setEnabled(controller.can_undo)
        self.redo_button.setEnabled(controller.can_redo)
        self.reset_button.setEnabled(controller.session is not None)


def _shortcut_actions(window: QMainWindow, controller: EditController) -> list[QAction]:
    entries = [(f"{text} tool", (key,), lambda _=False, n=name: controller.set_tool(n)) for name, text, key in TOOL_BUTTONS]
    entries += [("Undo edit", UNDO_KEYS, controller.undo),
                ("Redo edit", REDO_KEYS, controller.redo),
                ("Smaller brush", ("[",), lambda: controller.change_size(-1)),
                ("Larger brush", ("]",), lambda: controller.change_size(1)),
                ("Fill between slices", ("I",), lambda: controller.interpolate()),
                ("Reset to AI result", (), controller.reset_to_ai)]
    actions = []
    for text, keys, slot in entries:
        action = QAction(text, window)
        if keys:
            action.setShortcuts([QKeySequence(key) for key in keys])  # the first is the one menus show
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        window.addAction(action)
        actions.append(action)
    tools = QActionGroup(window)  # the Edit menu checks the active tool
    for action in actions[:len(TOOL_BUTTONS)]:
        action.setCheckable(True)
        tools.addAction(action)
    controller.state_changed.connect(lambda: _check_active_tool(actions, controller))
    _check_active_tool(actions, controller)
    return actions


def _check_active_tool(actions: list[QAction], controller: EditController) -> None:
    for action, (name, _, _) in zip(actions, TOOL_BUTTONS, strict=False):
        action.setChecked(name == controller.tool_name)


def _follow_settings(window: QMainWindow, controller: EditController) -> None:
    """Take the paint limit from Segmentation > Settings (``gui.review.settings_dialog``) when installed."""
    settings = getattr(window, "segment_settings", None)
    if settings is None or not hasattr(settings, "interaction"):
        return

    def apply() -> None:
        controller.update_settings(foreground_only=settings.interaction.paint_foreground_only)

    settings.changed.connect(apply)
    apply()


def install(window: QMainWindow) -> EditController:
    """Add the edit dock, menu and shortcuts to ``window`` (which has a ``model``); returns the controller."""
    controller = EditController(window.model, window)  # type: ignore[attr-defined]
    panel = EditPanel(controller)
    dock = QDockWidget("Edit segmentation", window)
    dock.setObjectName("edit-dock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    menus = getattr(window, "menus", {})
    menu = menus["Tools"].addMenu("&Edit Segmentation") if "Tools" in menus else window.menuBar().addMenu("&Edit")
    controller.actions = _shortcut_actions(window, controller)  # type: ignore[attr-defined]
    menu.addActions(controller.actions)  # type: ignore[attr-defined]
    menu.addAction(dock.toggleViewAction())
    controller.panel, controller.dock = panel, dock  # type: ignore[attr-defined]
    set_edit_tool = getattr(window, "set_edit_tool", None)
    if set_edit_tool is not None:
        controller.tool_changed.connect(set_edit_tool)
    refresh_outline = getattr(window, "refresh_brush_outline", None)
    if refresh_outline is not None:  # [ and ] or another label: the outline under the mouse follows
        controller.state_changed.connect(refresh_outline)
    _follow_settings(window, controller)
    hooks = getattr(window, "shutdown_hooks", None)
    if hooks is not None:
        hooks.append(controller.shutdown)
    return controller
