"""The main window's remembered layout and its toolbar Open button (a mixin of ``gui.shell.main_window.MainWindow``).

Layout: the window's size, position, dock and toolbar layout are saved when it closes (``save_layout``, called
by ``MainWindow.closeEvent``) and restored when it is first shown - by then every module has added its docks,
which ``restoreState`` finds by object name. The store is ``layout_store`` (the user's RevSeg settings unless a
test or script passes its own).

Open button: the toolbar shows the File menu's action that owns the platform's Open key (Ctrl+O), so the button
and the key carry one name: the window's own "Open Case..." in the bare viewer, "Open Study..." once the study
dialog takes the key over (the own action then leaves the File menu).
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QKeySequence, QShowEvent

from gui.settings_store import app_settings, load_window_layout, save_window_layout

#: Version of the dock arrangement. Raise it when the default arrangement changes (a dock added or moved):
#: a layout saved by an earlier version is then ignored instead of putting the new docks where old ones were.
#: 2: the Measurements dock with its lesion table sits below the views (issue 17).
LAYOUT_VERSION = 2


class WindowLayoutMixin:
    """Expects ``layout_store``, ``layout_restored``, ``toolbar``, ``toolbar_open_action``, ``open_action`` and
    ``menus`` (set by ``MainWindow.__init__``)."""

    def _store(self) -> QSettings:
        if self.layout_store is None:
            self.layout_store = app_settings()
        return self.layout_store

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        """At the first show, every module has added its docks: restore the saved size and layout."""
        if not self.layout_restored:
            self.layout_restored = True
            geometry, state = load_window_layout(self._store())
            if geometry is not None:
                self.restoreGeometry(geometry)
            if state is not None:
                self.restoreState(state, LAYOUT_VERSION)  # False, and nothing moves, for another version
        super().showEvent(event)

    def save_layout(self) -> None:
        """Store the window's geometry and its dock / toolbar layout (done on close)."""
        save_window_layout(self._store(), self.saveGeometry(), self.saveState(LAYOUT_VERSION))

    def _adopt_open_action(self, action: QAction) -> None:
        """Show ``action`` as the toolbar's Open button if it owns the Open key (the study dialog's Open Study...);
        the window's own Open Case... leaves the File menu then (one name for one job)."""
        if action is self.toolbar_open_action or action.shortcut() != QKeySequence(QKeySequence.StandardKey.Open):
            return
        self.toolbar.insertAction(self.toolbar_open_action, action)
        self.toolbar.removeAction(self.toolbar_open_action)
        if self.toolbar_open_action is self.open_action:
            self.menus["File"].removeAction(self.open_action)
        self.toolbar_open_action = action

