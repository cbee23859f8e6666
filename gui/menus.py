"""Adding actions to a main window from outside it, with public Qt API only."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

log = logging.getLogger(__name__)


def menu_named(window: QMainWindow, title: str) -> QMenu:
    """The window's menu called ``title`` (ampersands ignored); created before the Help menu if absent."""
    plain = title.replace("&", "")
    help_action = None
    for action in window.menuBar().actions():
        text = action.text().replace("&", "")
        if action.menu() is not None and text == plain:
            return action.menu()  # type: ignore[return-value]
        if text == "Help":
            help_action = action
    menu = QMenu(title, window.menuBar())
    window.menuBar().insertMenu(help_action, menu) if help_action else window.menuBar().addMenu(menu)
    return menu


def make_action(window: QMainWindow, text: str, slot: Callable[[], object], tooltip: str,
                shortcut: str | QKeySequence.StandardKey | None = None) -> QAction:
    """A window-wide action with a tooltip (naming its shortcut) that any earlier owner of the shortcut yields.

    Args:
        window: owner; the action is added to it so its shortcut works without a menu.
        text: menu text.
        slot: called when triggered.
        tooltip: what it does.
        shortcut: key sequence, or None.
    """
    action = QAction(text, window)
    action.triggered.connect(lambda _checked=False: slot())
    if shortcut is not None:
        sequence = QKeySequence(shortcut)
        for other in window.findChildren(QAction):
            if other is not action and other.shortcut() == sequence:
                log.warning("shortcut %s moves from '%s' to '%s'", sequence.toString(), other.text(), text)
                other.setShortcut(QKeySequence())  # one owner per shortcut, else Qt fires neither
        action.setShortcut(sequence)
        tooltip = f"{tooltip} ({sequence.toString(QKeySequence.SequenceFormat.NativeText)})"
    action.setToolTip(tooltip)
    action.setStatusTip(tooltip)
    window.addAction(action)
    return action
