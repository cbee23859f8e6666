"""The main window's menus and their keyboard shortcuts.

``build_menus(window)`` fills ``window.menus`` ("File", "View", "Segmentation", "Tools", "Help"); other
modules add their own entries later through that dict (``window.menus["Segmentation"].addAction(...)``).
Every action gets a status tip (shown in the status bar while the menu item is highlighted).

Platform conventions the File menu keeps whatever the modules add: Quit (Ctrl+Q) stays the last item, after a
separator (``FileMenuOrder``). Help > Controls (F1) is generated from the window's actions and menus when it
opens (``controls_html``), so every shortcut a module adds is listed without anyone updating a help text.
Ctrl+W is deliberately unassigned: RevSeg has one window and no "close case", so the platform meaning (close the
window) would quit the application, which a user with the old Ctrl+W (reset window/level) habit must not
trigger by accident; Reset Window/Level is W.

The window is typed as a plain ``QMainWindow``: it is ``gui.shell.main_window.MainWindow``, which imports this
module, and importing it back (even for type hints) would make the two modules a cycle.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QActionEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMainWindow,
    QMenu,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine.labels import LABEL_INFO
from gui.review.review_panel import LABEL_KEYS
from gui.viewer.orientation import AXIAL, PLANES
from gui.viewer.slice_interaction import MOUSE_BINDINGS
from gui.viewer.viewer_model import DISPLAY_NAMES

MENU_NAMES = ("File", "View", "Segmentation", "Tools", "Help")
PRESET_KEYS = ("F5", "F6", "F7", "F8")
RESET_WINDOW_KEY = "W"  # Ctrl+W is left unassigned (see the module docstring)
VOLUME_VIEW_MOUSE = (("Left drag", "rotate"), ("Wheel / right drag", "zoom"), ("Middle drag", "pan"))
PRESET_TITLES = {"slicer": "3D Slicer", "itksnap": "ITK-SNAP"}


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
    window.file_menu_order = FileMenuOrder(window.menus["File"], window.quit_action)
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
    window.quit_action = add_action(window, "&Quit", window.close, QKeySequence.StandardKey.Quit, "Close RevSeg")
    menu.addSeparator()
    menu.addAction(window.quit_action)


class FileMenuOrder(QObject):
    """Keeps Quit the last item of the File menu, after a separator, whatever other modules insert later
    (Save Report... was appended below Quit), as every platform's guidelines put it."""

    def __init__(self, menu: QMenu, quit_action: QAction) -> None:
        super().__init__(menu)
        self.menu, self.quit_action = menu, quit_action
        self._moving = False
        menu.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if (event.type() == QEvent.Type.ActionAdded and not self._moving
                and isinstance(event, QActionEvent) and event.action() is not self.quit_action):
            self._moving = True
            try:
                self._quit_last()
            finally:
                self._moving = False
        return False

    def _quit_last(self) -> None:
        actions = self.menu.actions()
        if actions and actions[-1] is self.quit_action:
            return
        self.menu.removeAction(self.quit_action)
        for action in reversed(self.menu.actions()):  # drop trailing separators left behind
            if not action.isSeparator():
                break
            self.menu.removeAction(action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)


def _view_menu(window: QMainWindow) -> None:
    model = window.model
    menu = window.menus["View"]
    menu.addAction(add_action(window, "&Reset Views", window.reset_views, "Ctrl+R", "Undo zoom and pan"))
    window.reset_window_action = add_action(window, "Reset &Window/Level", lambda: model.reset_window_level(),
                                            RESET_WINDOW_KEY, "Default window/level of the shown contrast")
    menu.addAction(window.reset_window_action)
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


# --- Help > Controls, generated from the actions --------------------------------------------------------------
def _plain(text: str) -> str:
    """Menu text without mnemonics ("&Open" -> "Open", "&&" -> "&")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _keys(action: QAction) -> str:
    return ", ".join(key.toString(QKeySequence.SequenceFormat.NativeText) for key in action.shortcuts()
                     if not key.isEmpty())


def action_rows(window: QMainWindow) -> list[tuple[str, str, str]]:
    """(where, action text, shortcuts) of every visible action: the menus in menu-bar order (submenus as
    "View > Window Presets"), then the window-wide actions that are in no menu."""
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()

    def walk(menu: QMenu, where: str) -> None:
        for action in menu.actions():
            if action.isSeparator() or not action.isVisible():
                continue
            seen.add(id(action))
            if action.menu() is not None:
                walk(action.menu(), f"{where} > {_plain(action.text())}")  # type: ignore[arg-type]
            else:
                rows.append((where, _plain(action.text()), _keys(action)))

    for top in window.menuBar().actions():
        if top.menu() is not None and top.isVisible():
            walk(top.menu(), _plain(top.text()))  # type: ignore[arg-type]
    for action in window.findChildren(QAction):
        if id(action) not in seen and _keys(action) and not action.isSeparator():
            rows.append(("Other keys", _plain(action.text()) or action.toolTip(), _keys(action)))
    return rows


def controls_html(window: QMainWindow, preset: str) -> str:
    """Help > Controls: the mouse in the slice views (``preset``), the 3D view, and every action's keys."""
    def table(rows: list[tuple[str, ...]], header: tuple[str, ...] = ()) -> str:
        head = "".join(f"<th align='left'>{html.escape(cell)}</th>" for cell in header)
        cells = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}&nbsp;&nbsp;</td>" for cell in row) + "</tr>"
                        for row in rows)
        return f"<table cellspacing='0' cellpadding='2'>{'<tr>' + head + '</tr>' if head else ''}{cells}</table>"

    mouse = MOUSE_BINDINGS[preset]
    parts = [f"<h3>Slice views - mouse preset {html.escape(PRESET_TITLES.get(preset, preset))}</h3>"
             "<p>Change the preset in Segmentation &gt; Settings...</p>", table(list(mouse)),
             "<h3>3D view</h3>", table(list(VOLUME_VIEW_MOUSE)), "<h3>Menus and keys</h3>"]
    rows = action_rows(window)
    parts.append(table(rows, header=("Menu", "Action", "Keys")))
    return "".join(parts)


class ControlsDialog(QDialog):
    """Help > Controls: a scrollable page sized to its text (within the screen)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle("RevSeg controls")
        self.browser = QTextBrowser(self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)

    def refresh(self, text: str) -> None:
        """Show ``text`` (HTML) and fit the dialog to it, at most 90 % x 85 % of the screen."""
        self.browser.setHtml(text)
        document = self.browser.document()
        document.adjustSize()
        screen = self.screen().availableGeometry()
        width = min(int(document.idealWidth()) + 60, int(screen.width() * 0.9))
        self.resize(width, min(int(document.size().height()) + 90, int(screen.height() * 0.85)))
