"""The main window's menus and their keyboard shortcuts.

``build_menus(window)`` fills ``window.menus`` ("File", "View", "Segmentation", "Tools", "Help"); other
modules add their own entries later through that dict (``window.menus["Segmentation"].addAction(...)``).
Every action gets a status tip (shown in the status bar while the menu item is highlighted).

The window is typed as a plain ``QMainWindow``: it is ``gui.shell.main_window.MainWindow``, which imports this
module, and importing it back (even for type hints) would make the two modules a cycle.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow

from engine.labels import LABEL_INFO
from gui.review.review_panel import LABEL_KEYS
from gui.viewer.orientation import AXIAL, PLANES
from gui.viewer.viewer_model import DISPLAY_NAMES

MENU_NAMES = ("File", "View", "Segmentation", "Tools", "Help")
PRESET_KEYS = ("F5", "F6", "F7", "F8")
CONTROLS_HELP = (
    "<b>Slice views</b><br>"
    "Left click / drag: move the crosshair (all views follow)<br>"
    "Mouse wheel, Up/Down, Page Up/Page Down: previous / next slice<br>"
    "Right drag: window (left-right) and level (up-down)<br>"
    "Middle drag: pan; Ctrl + wheel: zoom; R: reset zoom and pan<br>"
    "Double-click: maximise the view / back to 2 x 2 (Ctrl+M)<br><br>"
    "<b>3D view</b><br>Left drag: rotate; wheel / right drag: zoom; middle drag: pan<br><br>"
    "<b>Keys</b><br>Ctrl+1..4: T1, T1ce, T2, FLAIR; F5..F8: window/level presets; Ctrl+W: default window<br>"
    "Ctrl+L: labels on/off; O: outline; Alt+1..3: NCR, ED, ET on/off; Ctrl+U: uncertainty; "
    "N: next uncertain slice<br>Ctrl+G: modality grid; Ctrl+R: reset views"
)



def add_action(window: QMainWindow, text: str, slot: object, shortcut: object = None, tip: str = "",
               checkable: bool = False) -> QAction:
    """A window-wide action (its shortcut works wherever the focus is in the window)."""
    action = QAction(text, window)
    action.triggered.connect(slot)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setStatusTip(tip)
        action.setToolTip(f"{tip} ({keys})" if keys else tip)
    action.setCheckable(checkable)
    window.addAction(action)
    return action


def build_menus(window: QMainWindow) -> None:
    window.menus = {name: window.menuBar().addMenu(f"&{name}") for name in MENU_NAMES}
    _file_menu(window)
    _view_menu(window)
    help_menu = window.menus["Help"]
    help_menu.addAction(add_action(window, "&Controls", window.show_controls, QKeySequence.StandardKey.HelpContents,
                                   "Mouse and keyboard controls"))
    help_menu.addAction(add_action(window, "&About RevSeg", window.show_about, tip="Version and licence"))


def _file_menu(window: QMainWindow) -> None:
    menu = window.menus["File"]
    window.open_action = add_action(window, "&Open Case...", window.choose_case_folder,
                                    QKeySequence.StandardKey.Open, "Open a case folder of NIfTI files")
    menu.addAction(window.open_action)
    menu.addAction(add_action(window, "Open &Demo Case", window.open_demo_case, tip="Open the bundled phantom"))
    menu.addSeparator()
    menu.addAction(add_action(window, "&Quit", window.close, QKeySequence.StandardKey.Quit, "Close RevSeg"))


def _view_menu(window: QMainWindow) -> None:
    model = window.model
    menu = window.menus["View"]
    menu.addAction(add_action(window, "&Reset Views", window.reset_views, "Ctrl+R", "Undo zoom and pan"))
    menu.addAction(add_action(window, "Reset &Window/Level", lambda: model.reset_window_level(), "Ctrl+W",
                              "Default window/level of the shown contrast"))
    presets = menu.addMenu("Window &Presets")
    window.preset_actions = []
    for index, key in enumerate(PRESET_KEYS):
        action = add_action(window, f"Preset {index + 1}", lambda _=False, i=index: window.apply_window_preset(i),
                            key, "Window/level preset of the shown contrast")
        presets.addAction(action)
        window.preset_actions.append(action)
    menu.addSeparator()
    window.grid_action = add_action(window, "Modality &Grid", window.set_grid_mode, "Ctrl+G",
                                    "Show the four contrasts side by side at the same slice", checkable=True)
    menu.addAction(window.grid_action)
    grid_planes = menu.addMenu("Grid P&lane")
    window.grid_plane_actions = {}
    for plane in PLANES:  # no shortcuts: rarely changed, and Ctrl+Shift+S & co. are wanted elsewhere (Save As)
        action = add_action(window, plane.title, lambda _=False, p=plane: window.set_grid_plane(p), None,
                            f"Modality grid in {plane.name} slices", checkable=True)
        action.setChecked(plane is AXIAL)
        grid_planes.addAction(action)
        window.grid_plane_actions[plane.name] = action
    menu.addAction(add_action(window, "&Maximise / Restore View", window.toggle_focused_view, "Ctrl+M",
                              "Maximise the view under the mouse, or go back to 2 x 2 (or double-click a view)"))
    menu.addSeparator()
    window.overlay_action = add_action(window, "Show &Label Overlay", lambda on: model.set_overlay(visible=on),
                                       "Ctrl+L", "Label overlay on/off", checkable=True)
    window.overlay_action.setChecked(model.overlay_visible)
    menu.addAction(window.overlay_action)
    window.outline_action = add_action(window, "&Outline Labels", lambda on: model.set_overlay_style(outline=on),
                                       "O", "Draw label outlines instead of filled labels", checkable=True)
    menu.addAction(window.outline_action)
    window.label_actions = {}
    for value, info in LABEL_INFO.items():
        action = add_action(window, f"Show {info.short}", lambda _=False, v=value: window.review_panel.toggle_label(v),
                            LABEL_KEYS[value], f"Show/hide label {value} ({info.name})", checkable=True)
        menu.addAction(action)
        window.label_actions[value] = action
    window.uncertainty_action = add_action(
        window, "Show &Uncertainty", lambda on: model.set_overlay_style(uncertainty_visible=on), "Ctrl+U",
        "Uncertainty (entropy of the model's outputs) over the labels", checkable=True)
    menu.addAction(window.uncertainty_action)
    window.next_uncertain_action = add_action(window, "&Next Uncertain Slice",
                                              lambda: window.review_panel.next_uncertain_slice(), "N",
                                              "Jump to the next axial slice with uncertain voxels")
    menu.addAction(window.next_uncertain_action)
    menu.addAction(window.review_panel.toggleViewAction())
    menu.addSeparator()
    for number, modality in enumerate(DISPLAY_NAMES, start=1):
        menu.addAction(add_action(window, DISPLAY_NAMES[modality], lambda _=False, m=modality: window.set_modality(m),
                                  f"Ctrl+{number}", f"Show {DISPLAY_NAMES[modality]} in all views"))


def legend_tooltip() -> str:
    rows = "".join(
        f"<tr><td style='background-color: rgb{info.rgb}'>&nbsp;&nbsp;&nbsp;</td><td>{value} {info.short}: "
        f"{info.name}</td></tr>" for value, info in LABEL_INFO.items()
    )
    return f"Show the label map (Ctrl+L)<table>{rows}</table>"
