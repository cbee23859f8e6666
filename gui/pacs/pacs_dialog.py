"""The "PACS" dialog: DICOM nodes (edit, save, echo), a query form, results, retrieve with progress / Cancel, open.

Every network call runs in a ``BackgroundJob`` worker (echo, query, retrieve); the dialog only shows the
outcome, so the window never blocks. A retrieve goes into the local study database (``StudyDatabase``) by
C-GET or WADO-RS; a cancelled or broken retrieve leaves the study marked incomplete, and retrieving again
fetches only what is missing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.dicomnet.database import StudyDatabase
from engine.dicomnet.dimse import echo, find, get_study, move_study
from engine.dicomnet.nodes import DicomNode, NodeBook, load_nodes, save_nodes
from engine.dicomnet.query import FindQuery
from engine.dicomnet.receiver import StorageReceiver
from engine.dicomnet.web import qido, wado_study
from gui.background import BackgroundJob

RESULT_COLUMNS = ("Patient", "ID", "Date", "Description", "Accession", "Modalities", "Instances", "Study UID")
RESULT_KEYS = ("PatientName", "PatientID", "StudyDate", "StudyDescription", "AccessionNumber", "ModalitiesInStudy",
               "NumberOfStudyRelatedInstances", "StudyInstanceUID")
METHODS = ("C-GET", "WADO-RS")


class NodeEditor(QGroupBox):
    """The fields of one node; ``node()`` builds it (a ValueError names the bad field)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Node", parent)
        self.name, self.ae_title, self.host = QLineEdit(), QLineEdit(), QLineEdit("127.0.0.1")
        self.port = QSpinBox(minimum=1, maximum=65535, value=104)
        self.web_url = QLineEdit(placeholderText="http://host:8042/dicom-web (optional)")
        form = QFormLayout(self)
        for label, widget in (("Name", self.name), ("AE title", self.ae_title), ("Host", self.host),
                              ("Port", self.port), ("DICOMweb URL", self.web_url)):
            form.addRow(label, widget)

    def show_node(self, node: DicomNode | None) -> None:
        node = node or DicomNode("new", "PACS")
        self.name.setText(node.name)
        self.ae_title.setText(node.ae_title)
        self.host.setText(node.host)
        self.port.setValue(node.port)
        self.web_url.setText(node.dicomweb_url)
        self._shown = node

    def node(self) -> DicomNode:
        base = getattr(self, "_shown", None)
        extra = {"tls": base.tls, "timeout_s": base.timeout_s} if base is not None else {}
        return DicomNode(self.name.text().strip(), self.ae_title.text().strip(), self.host.text().strip(),
                         self.port.value(), dicomweb_url=self.web_url.text().strip(), **extra)


class QueryForm(QGroupBox):
    """Patient name / ID, study date range, modality, accession."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Query", parent)
        self.patient_name = QLineEdit(placeholderText="DOE* (wildcards)")
        self.patient_id, self.modality, self.accession = QLineEdit(), QLineEdit("MR"), QLineEdit()
        self.date_from = QLineEdit(placeholderText="YYYYMMDD")
        self.date_to = QLineEdit(placeholderText="YYYYMMDD")
        form = QFormLayout(self)
        for label, widget in (("Patient name", self.patient_name), ("Patient ID", self.patient_id),
                              ("Study date from", self.date_from), ("to", self.date_to),
                              ("Modality", self.modality), ("Accession", self.accession)):
            form.addRow(label, widget)

    def query(self) -> FindQuery:
        return FindQuery("STUDY", self.patient_name.text().strip(), self.patient_id.text().strip(),
                         self.date_from.text().strip(), self.date_to.text().strip(), self.modality.text().strip(),
                         self.accession.text().strip())


class PacsDialog(QDialog):
    """Query/retrieve against configured DICOM nodes.

    Signals:
        open_requested(Path): the user opens a retrieved study; the argument is its folder in the database.
        retrieved(str): a study was retrieved completely (its StudyInstanceUID).
    """

    open_requested = Signal(Path)
    retrieved = Signal(str)

    def __init__(self, db: StudyDatabase, nodes_path: Path | None = None, parent: QWidget | None = None,
                 receiver: StorageReceiver | None = None) -> None:
        super().__init__(parent)
        self.db, self.nodes_path, self.receiver = db, nodes_path, receiver
        self.book: NodeBook = load_nodes(nodes_path) if nodes_path is None or nodes_path.exists() else NodeBook()
        self.setWindowTitle("PACS")
        self.resize(1000, 640)
        self.job = BackgroundJob(self)
        self.job.progressed.connect(self._on_progress)
        self.job.failed.connect(self._on_failed)
        self.job.finished.connect(self._on_finished)
        self._on_done = lambda _result: None
        self.job.cancelled.connect(lambda: self._end("Cancelled"))
        self._build()
        self._fill_nodes()

    # ---- layout -----------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.node_combo = QComboBox()
        self.node_combo.currentTextChanged.connect(lambda name: self.editor.show_node(self.book.nodes.get(name)))
        self.editor, self.form = NodeEditor(), QueryForm()
        self.echo_button, self.save_button = QPushButton("Echo"), QPushButton("Save node")
        self.search_button, self.retrieve_button = QPushButton("Search"), QPushButton("Retrieve")
        self.cancel_button, self.open_button = QPushButton("Cancel"), QPushButton("Open")
        self.method = QComboBox()
        self.method.addItems(METHODS + (("C-MOVE",) if self.receiver is not None else ()))
        self.method.setToolTip("C-MOVE sends the study to our receiver "
                               f"({self.receiver.config.ae_title} on port {self.receiver.port}); the PACS must know it"
                               if self.receiver is not None else "Configure a receiver in the nodes file for C-MOVE")
        self.use_web = QComboBox()
        self.use_web.addItems(("C-FIND", "QIDO-RS"))
        for button, slot in ((self.echo_button, self.echo), (self.save_button, self.save_node),
                             (self.search_button, self.search), (self.retrieve_button, self.retrieve),
                             (self.cancel_button, self.job.cancel), (self.open_button, self.open_selected)):
            button.clicked.connect(slot)
        self.results = QTableWidget(0, len(RESULT_COLUMNS))
        self.results.setHorizontalHeaderLabels(RESULT_COLUMNS)
        self.results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.setSortingEnabled(True)
        self.results.itemSelectionChanged.connect(self._update_buttons)
        self.progress = QProgressBar()
        self.status = QLabel("Choose a node, test it with Echo, then search")
        self.status.setWordWrap(True)
        left = QVBoxLayout()
        nodes_row = QHBoxLayout()
        nodes_row.addWidget(self.node_combo, 1)
        nodes_row.addWidget(self.echo_button)
        left.addLayout(nodes_row)
        left.addWidget(self.editor)
        left.addWidget(self.save_button)
        left.addWidget(self.form)
        search_row = QHBoxLayout()
        search_row.addWidget(self.use_web)
        search_row.addWidget(self.search_button)
        left.addLayout(search_row)
        left.addStretch(1)
        actions = QHBoxLayout()
        for widget in (self.method, self.retrieve_button, self.progress, self.cancel_button, self.open_button):
            actions.addWidget(widget, 1 if widget is self.progress else 0)
        right = QVBoxLayout()
        right.addWidget(self.results, 1)
        right.addLayout(actions)
        right.addWidget(self.status)
        layout = QHBoxLayout(self)
        layout.addLayout(left)
        layout.addLayout(right, 1)
        self._update_buttons()

    def _fill_nodes(self, select: str | None = None) -> None:
        self.node_combo.blockSignals(True)
        self.node_combo.clear()
        self.node_combo.addItems(sorted(self.book.nodes))
        self.node_combo.blockSignals(False)
        if select:
            self.node_combo.setCurrentText(select)
        self.editor.show_node(self.book.nodes.get(self.node_combo.currentText()))

    # ---- nodes ------------------------------------------------------------------------------------------
    def current_node(self) -> DicomNode:
        """The node as the fields show it (edits apply without saving)."""
        return self.editor.node()

    def save_node(self) -> bool:
        try:
            node = self.current_node()
        except ValueError as error:
            self.status.setText(str(error))
            return False
        self.book = dataclasses.replace(self.book, nodes={**self.book.nodes, node.name: node})
        path = save_nodes(self.book, self.nodes_path)
        self._fill_nodes(node.name)
        self.status.setText(f"Saved node {node.label} to {path}")
        return True

    # ---- network work, each in the worker ---------------------------------------------------------------
    def _start(self, text: str, work, on_done) -> bool:  # noqa: ANN001 - work(progress, cancel), on_done(result)
        if self.job.busy:
            return False
        try:
            node = self.current_node()
        except ValueError as error:
            self.status.setText(str(error))
            return False
        self._on_done = on_done
        self.status.setText(text)
        self.progress.setRange(0, 0)
        self.job.start(lambda progress, cancel: work(node, progress, cancel))
        self._update_buttons()
        return True

    def echo(self) -> bool:
        local_ae = self.book.local_ae
        return self._start("Echo ...", lambda node, _p, _c: (echo(node, local_ae), node)[1],
                           lambda node: self._end(f"Echo OK: {node.label} answers"))

    def search(self) -> bool:
        try:
            query = self.form.query()
        except ValueError as error:
            self.status.setText(str(error))
            return False
        web, local_ae = self.use_web.currentText() == "QIDO-RS", self.book.local_ae
        return self._start("Searching ...", lambda node, _p, _c: qido(node, query) if web else find(node, query, local_ae),
                           self._show_results)

    def retrieve(self) -> bool:
        uid = self.selected_study()
        if uid is None:
            self.status.setText("Select a study in the results first")
            return False
        method, db, local_ae = self.method.currentText(), self.db, self.book.local_ae
        destination = self.receiver.config.ae_title if self.receiver is not None else ""

        def work(node: DicomNode, progress, cancel):  # noqa: ANN001 - the BackgroundJob callbacks
            report = lambda done, total: progress("retrieve", done, total)  # noqa: E731
            if method == "WADO-RS":
                return wado_study(node, uid, db, progress=report, cancel=cancel)
            if method == "C-MOVE":
                return move_study(node, uid, db, destination, local_ae=local_ae, progress=report, cancel=cancel)
            return get_study(node, uid, db, local_ae=local_ae, progress=report, cancel=cancel)

        return self._start(f"Retrieving {uid} ...", work, self._on_retrieved)

    # ---- outcomes (GUI thread) --------------------------------------------------------------------------
    def _on_finished(self, result: object) -> None:
        self._on_done(result)
        self._update_buttons()

    def _show_results(self, found: list) -> None:
        self.results.setSortingEnabled(False)
        self.results.setRowCount(len(found))
        for row, ds in enumerate(found):
            for column, key in enumerate(RESULT_KEYS):
                value = ds.get(key, "")
                text = "/".join(value) if key == "ModalitiesInStudy" and not isinstance(value, str) else str(value or "")
                self.results.setItem(row, column, QTableWidgetItem(text.replace("^", " ")))
        self.results.setSortingEnabled(True)
        self.results.resizeColumnsToContents()
        self._end(f"{len(found)} studies found")
        if found:
            self.results.selectRow(0)

    def _on_retrieved(self, result) -> None:  # noqa: ANN001 - a RetrieveResult
        self._end(f"Retrieved {result.study_uid}: {result.received} new instances, "
                  f"{result.already_present} already here; complete")
        self.progress.setRange(0, max(result.expected, 1))
        self.progress.setValue(result.expected)
        self.retrieved.emit(result.study_uid)

    def _on_progress(self, _stage: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.status.setText(f"Retrieving: {done} of {total} instances")

    def _on_failed(self, error: object, _details: str) -> None:
        self._end(str(error))

    def _end(self, text: str) -> None:
        self.progress.setRange(0, 1)
        self.status.setText(text)
        self._update_buttons()

    # ---- selection and opening --------------------------------------------------------------------------
    def selected_study(self) -> str | None:
        items = self.results.selectedItems()
        if not items:
            return None
        return self.results.item(items[0].row(), RESULT_KEYS.index("StudyInstanceUID")).text() or None

    def _local_complete(self, uid: str | None) -> bool:
        series = self.db.series(uid) if uid else []
        return bool(series) and all(s.complete for s in series)

    def _update_buttons(self) -> None:
        busy, uid = self.job.busy, self.selected_study()
        for button in (self.echo_button, self.search_button, self.save_button):
            button.setEnabled(not busy)
        self.retrieve_button.setEnabled(not busy and uid is not None)
        self.cancel_button.setEnabled(busy)
        self.open_button.setEnabled(not busy and self._local_complete(uid))

    def open_selected(self) -> bool:
        uid = self.selected_study()
        if not self._local_complete(uid):
            self.status.setText("Retrieve the study completely before opening it")
            return False
        self.open_requested.emit(self.db.study_folder(uid))
        return True

    def shutdown(self) -> None:
        self.job.cancel()
        self.job.wait()

    def done(self, result: int) -> None:  # noqa: D102 - Qt override: stop the worker with the dialog
        self.shutdown()
        super().done(result)


