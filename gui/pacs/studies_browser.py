"""The "Studies" browser: the local study database (received and retrieved studies) in a sortable table.

Search by patient name / ID, description or accession; open a study in the viewer; delete studies (rows and the
files the store owns). Incomplete studies (a retrieve that stopped halfway) are marked and cannot be opened
until a retrieve completes them. Reading the SQLite index is quick and stays on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.dicomnet.database import StudyDatabase, StudyRow

COLUMNS = ("Patient", "ID", "Date", "Description", "Modalities", "Series", "Instances", "Size", "State")


class _NumberItem(QTableWidgetItem):
    """Sorts by its number, not its text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return float(self.data(Qt.ItemDataRole.UserRole)) < float(other.data(Qt.ItemDataRole.UserRole))


def human_size(size: float) -> str:
    """``12.3 MB``-style size."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


def _number_item(value: float, text: str) -> QTableWidgetItem:
    item = _NumberItem(text)
    item.setData(Qt.ItemDataRole.UserRole, value)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class StudiesBrowser(QDialog):
    """Browse, open and delete the studies of a StudyDatabase.

    Signals:
        open_requested(Path): the user opens a (complete) study; the argument is its folder.
    """

    open_requested = Signal(Path)

    def __init__(self, db: StudyDatabase, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.setWindowTitle("Studies")
        self.resize(960, 420)
        self.search = QLineEdit(placeholderText="Search patient name or ID, description, accession")
        self.search.textChanged.connect(self.refresh)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        self.size_label = QLabel()
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self.open_selected)
        self.delete_button = QPushButton("Delete...")
        self.delete_button.clicked.connect(self.delete_selected)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.size_label, 1)
        for button in (self.open_button, self.delete_button, close):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.rows: list[StudyRow] = []
        self.refresh()

    def refresh(self) -> None:
        """Re-read the database (after a retrieve, a delete or a new search text)."""
        self.rows = self.db.studies(self.search.text().strip())
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.rows))
        for index, row in enumerate(self.rows):
            texts = (row.patient_name.replace("^", " "), row.patient_id, row.date, row.description,
                     "/".join(row.modalities))
            for column, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole + 1, row.study_uid)
                item.setToolTip(f"Study Instance UID {row.study_uid}")
                self.table.setItem(index, column, item)
            self.table.setItem(index, 5, _number_item(row.series_count, str(row.series_count)))
            self.table.setItem(index, 6, _number_item(row.instance_count, str(row.instance_count)))
            self.table.setItem(index, 7, _number_item(row.size_bytes, human_size(row.size_bytes)))
            self.table.setItem(index, 8, QTableWidgetItem("complete" if row.complete else "INCOMPLETE"))
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        self.size_label.setText(f"{len(self.rows)} studies, {human_size(self.db.size_bytes())} in {self.db.root}")
        self._update_buttons()

    def selected(self) -> StudyRow | None:
        """The study of the selected row, or None."""
        items = self.table.selectedItems()
        if not items:
            return None
        uid = self.table.item(items[0].row(), 0).data(Qt.ItemDataRole.UserRole + 1)
        return next((row for row in self.rows if row.study_uid == uid), None)

    def select_study(self, study_uid: str) -> None:
        for index in range(self.table.rowCount()):
            if self.table.item(index, 0).data(Qt.ItemDataRole.UserRole + 1) == study_uid:
                self.table.selectRow(index)
                return

    def _update_buttons(self) -> None:
        row = self.selected()
        self.open_button.setEnabled(row is not None and row.complete)
        self.open_button.setToolTip("" if row is None or row.complete else
                                    "This study is incomplete: retrieve it again from the PACS to complete it")
        self.delete_button.setEnabled(row is not None)

    def open_selected(self) -> None:
        row = self.selected()
        if row is not None and row.complete:
            self.open_requested.emit(self.db.study_folder(row.study_uid))
            self.accept()

    def delete_selected(self, confirm: bool = True) -> None:
        row = self.selected()
        if row is None:
            return
        question = (f"Delete the study of {row.patient_name.replace('^', ' ')} ({row.date}, {row.instance_count} "
                    f"instances, {human_size(row.size_bytes)}) from the local database?")
        if confirm and QMessageBox.question(self, "Delete study", question) != QMessageBox.StandardButton.Yes:
            return
        self.db.delete_study(row.study_uid)
        self.refresh()
