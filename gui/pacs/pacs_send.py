""""Send to PACS": send exported DICOM files (the DICOM-SEG, a report) to a node, with the result per instance.

The C-STORE (or STOW-RS) runs in a ``BackgroundJob`` worker; the table fills in when the node has answered.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.dicomnet.dimse import StoreOutcome, send_files
from engine.dicomnet.nodes import NodeBook
from engine.dicomnet.report_pdf import encapsulate_pdf
from engine.dicomnet.web import stow
from gui.background import BackgroundJob


class SendDialog(QDialog):
    """Send ``files`` to a node of ``book``.

    Signals:
        sent(list): the outcomes, one StoreOutcome per file.
    """

    sent = Signal(list)

    def __init__(self, files: list[Path], book: NodeBook, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.files, self.book = list(files), book
        self.setWindowTitle("Send to PACS")
        self.resize(720, 300)
        self.node_combo = QComboBox()
        self.node_combo.addItems(sorted(book.nodes))
        self.method = QComboBox()
        self.method.addItems(("C-STORE", "STOW-RS"))
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self.send)
        self.pdf_button = QPushButton("Add PDF Report...")
        self.pdf_button.setToolTip("Send a report PDF (File > Save Report) too, as an Encapsulated PDF in this study")
        self.pdf_button.clicked.connect(self.choose_pdf)
        self.table = QTableWidget(len(self.files), 2)
        self.table.setHorizontalHeaderLabels(("File", "Result"))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, path in enumerate(self.files):
            self.table.setItem(row, 0, QTableWidgetItem(path.name))
            self.table.setItem(row, 1, QTableWidgetItem("not sent"))
        self.table.horizontalHeader().setStretchLastSection(True)
        self.status = QLabel("" if book.nodes else "No DICOM node is configured: add one in File > PACS")
        self.status.setWordWrap(True)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        top = QHBoxLayout()
        top.addWidget(QLabel("Node"))
        top.addWidget(self.node_combo, 1)
        top.addWidget(self.method)
        top.addWidget(self.pdf_button)
        top.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(close)
        self.job = BackgroundJob(self)
        self.job.finished.connect(self._on_sent)
        self.job.failed.connect(lambda error, _details: self._done(str(error)))
        self.send_button.setEnabled(bool(book.nodes and self.files))

    def choose_pdf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Report PDF", str(self.files[0].parent), "PDF (*.pdf)")
        if path:
            self.add_pdf(Path(path))

    def add_pdf(self, pdf: Path) -> Path | None:
        """Wrap ``pdf`` as an Encapsulated PDF in the study of the first file and add it to the list."""
        try:
            wrapped = encapsulate_pdf(pdf, self.files[0], pdf.with_suffix(".dcm"), force=True)
        except (ValueError, OSError) as error:
            self.status.setText(str(error))
            return None
        self.files.append(wrapped)
        row = self.table.rowCount()
        self.table.setRowCount(row + 1)
        self.table.setItem(row, 0, QTableWidgetItem(wrapped.name))
        self.table.setItem(row, 1, QTableWidgetItem("not sent"))
        return wrapped

    def send(self) -> bool:
        if self.job.busy or not self.book.nodes:
            return False
        node, files = self.book.get(self.node_combo.currentText()), self.files
        web, local_ae = self.method.currentText() == "STOW-RS", self.book.local_ae
        self.send_button.setEnabled(False)
        self.status.setText(f"Sending {len(files)} file(s) to {node.label} ...")
        self.job.start(lambda _progress, _cancel: stow(node, files) if web else send_files(node, files,
                                                                                           local_ae=local_ae))
        return True

    def _on_sent(self, outcomes: list[StoreOutcome]) -> None:
        for outcome in outcomes:
            row = self.files.index(outcome.path)
            text = "stored" if outcome.ok else f"FAILED: 0x{outcome.status:04X} {outcome.message}"
            self.table.setItem(row, 1, QTableWidgetItem(text))
        accepted = sum(o.ok for o in outcomes)
        self._done(f"{accepted} of {len(self.files)} accepted by {self.node_combo.currentText()}")
        self.sent.emit(outcomes)

    def _done(self, text: str) -> None:
        self.status.setText(text)
        self.send_button.setEnabled(True)

    def done(self, result: int) -> None:  # noqa: D102 - Qt override: wait for the worker with the dialog
        self.job.wait()
        super().done(result)
