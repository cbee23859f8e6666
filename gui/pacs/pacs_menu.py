"""Hooks the PACS dialog, the Studies browser and "Send to PACS" into a main window's menus.

``install(window)`` adds File > "PACS Query/Retrieve..." and File > "Local Studies...", and Export > "Send to
PACS..." (the files of the last export). When the nodes file configures a ``receiver``, the storage SCP starts in
the background with the PACS dialog (C-MOVE retrieves and studies pushed by the PACS land in the database) and
stops with the window. Opening a study goes through the window's study opener
(``window.studies.open_paths``) when the workstation has one, else ``window.open_case``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMainWindow

from engine.dicomnet.database import StudyDatabase
from engine.dicomnet.nodes import NodeBook, default_nodes_path, load_nodes
from engine.dicomnet.receiver import StorageReceiver
from gui.menus import make_action, menu_named
from gui.pacs.pacs_dialog import PacsDialog
from gui.pacs.pacs_send import SendDialog
from gui.pacs.studies_browser import StudiesBrowser


class PacsController(QObject):
    """Owns the study database and opens the PACS-related dialogs of a window."""

    def __init__(self, window: QMainWindow, db_root: Path | None = None, nodes_path: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.db_root, self.nodes_path = db_root, nodes_path or default_nodes_path()
        self._db: StudyDatabase | None = None
        self.pacs_dialog: PacsDialog | None = None
        self.browser: StudiesBrowser | None = None
        self.send_dialog: SendDialog | None = None
        self.receiver: StorageReceiver | None = None
        file_menu = menu_named(window, "&File")
        self.pacs_action = make_action(window, "&PACS Query/Retrieve...", self.show_pacs,
                                       "Find a study on a PACS, retrieve it into the local database and open it")
        self.studies_action = make_action(window, "Local &Studies...", self.show_studies,
                                          "Browse, open and delete the studies in the local database")
        first = file_menu.actions()[0] if file_menu.actions() else None
        file_menu.insertActions(first, [self.pacs_action, self.studies_action])
        self.send_action = make_action(window, "Send to &PACS...", self.show_send,
                                       "Send the files of the last export (DICOM-SEG) to a PACS node")
        menu_named(window, "&Export").addAction(self.send_action)

    @property
    def db(self) -> StudyDatabase:
        """The study database, opened on first use."""
        if self._db is None:
            self._db = StudyDatabase(self.db_root)
        return self._db

    def book(self) -> NodeBook:
        return load_nodes(self.nodes_path) if self.nodes_path.exists() else NodeBook()

    def start_receiver(self) -> StorageReceiver | None:
        """Start the background receiver of the nodes file (once); None when none is configured or it fails."""
        config = self.book().receiver
        if self.receiver is None and config is not None:
            try:
                self.receiver = StorageReceiver(self.db, config).start()
            except ValueError as error:
                self.window.statusBar().showMessage(f"DICOM receiver not started: {error}", 10_000)
        return self.receiver

    def show_pacs(self) -> PacsDialog:
        if self.pacs_dialog is None:
            self.pacs_dialog = PacsDialog(self.db, self.nodes_path, self.window, self.start_receiver())
            self.pacs_dialog.open_requested.connect(self.open_study)
        self.pacs_dialog.show()
        return self.pacs_dialog

    def show_studies(self) -> StudiesBrowser:
        self.browser = StudiesBrowser(self.db, self.window)
        self.browser.open_requested.connect(self.open_study)
        self.browser.show()
        return self.browser

    def show_send(self, files: list[Path] | None = None) -> SendDialog | None:
        if files is None:
            export = getattr(getattr(self.window, "exports", None), "last_export", None)
            files = [p for k, p in (export.files.items() if export else []) if k == "dicom-seg"]
        if not files:
            self.window.statusBar().showMessage("Nothing to send: export a DICOM-SEG first", 5000)
            return None
        self.send_dialog = SendDialog(files, self.book(), self.window)
        self.send_dialog.show()
        return self.send_dialog

    def open_study(self, folder: Path) -> None:
        studies = getattr(self.window, "studies", None)
        if studies is not None:
            studies.open_paths([folder])
        else:
            self.window.open_case(folder)  # type: ignore[attr-defined]

    def shutdown(self) -> None:
        for dialog in (self.pacs_dialog, self.send_dialog):
            if dialog is not None:
                dialog.job.cancel()
                dialog.job.wait()
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None


def install(window: QMainWindow, db_root: Path | None = None, nodes_path: Path | None = None) -> PacsController:
    """Add the PACS menu entries to ``window``; returns the controller."""
    return PacsController(window, db_root, nodes_path)
