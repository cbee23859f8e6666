"""Opening a study: choose a folder or files, confirm or reassign T1 / T1ce / T2 / FLAIR, load in the background.

File > Open Study... (Ctrl+O) or Open Study Files..., a recent study, or a drop on the window: the study is
scanned in a worker (``gui.study.study_scan``), then ``StudyDialog`` lists its files or series with a thumbnail, the
description and the guessed contrast in an editable combo box. OK refuses a contrast given twice or not at
all, with a readable message. Loading runs in a worker with progress in the status bar: a BraTS-named NIfTI
folder kept as guessed goes through ``window.open_case`` (its label map comes along), anything else through
``engine.interactive.load_study`` (DICOM series and reassigned files, resampled onto the T1ce's grid).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.interactive import load_study
from engine.io.guess import ROLES
from gui.background import BackgroundJob
from gui.menus import make_action, menu_named
from gui.settings_store import app_settings
from gui.study.recent_studies import RecentStudies
from gui.study.study_scan import StudyScan, scan_study
from gui.viewer.viewer_model import DISPLAY_NAMES, default_window_levels

log = logging.getLogger(__name__)

UNUSED = "(not used)"
WEAK_GUESS = 0.6


def thumbnail_pixmap(image) -> QPixmap:  # noqa: ANN001 - a uint8 numpy array
    """A QPixmap of a 2D uint8 array (grey)."""
    rows, columns = image.shape
    qimage = QImage(image.data, columns, rows, image.strides[0], QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(qimage.copy())  # copy: the QImage must not outlive the numpy buffer


class StudyDialog(QDialog):
    """The series of a study with their guessed contrasts; the user confirms or reassigns them."""

    COLUMNS = ("Image", "Series", "Guess", "Contrast")

    def __init__(self, scan: StudyScan, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scan = scan
        self.setWindowTitle("Open Study - assign the contrasts")
        self.table = QTableWidget(len(scan.entries), len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.combos: list[QComboBox] = []
        for row, (entry, role) in enumerate(zip(scan.entries, scan.initial_roles(), strict=True)):
            self._fill_row(row, entry, role)
        self.table.resizeColumnsToContents()
        self.table.resizeRowsToContents()
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #e05050;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        if scan.patient is not None and scan.patient.rows():
            self.patient_label = QLabel("   ".join(f"<b>{name}:</b> {value}" for name, value in scan.patient.rows()))
            layout.addWidget(self.patient_label)
        layout.addWidget(QLabel(f"{len(scan.entries)} {'files' if scan.kind == 'nifti' else 'series'} in "
                                f"{scan.input_path or 'the chosen files'}. Check the contrast of each one."))
        layout.addWidget(self.table)
        layout.addWidget(self.message_label)
        layout.addWidget(self.buttons)
        self._fit_to_content()

    def _fit_to_content(self) -> None:
        """Size the dialog to its table's columns and rows, within 90 % of the screen (it was a fixed 720 px,
        which cut long series descriptions or left a wide empty dialog)."""
        table = self.table
        header = table.horizontalHeader()
        columns = sum(max(table.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(table.columnCount()))
        rows = sum(table.rowHeight(r) for r in range(table.rowCount())) + header.sizeHint().height()
        frame = 2 * table.frameWidth()
        screen = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        table.setMinimumSize(min(columns + frame + table.verticalScrollBar().sizeHint().width(),
                                 int(screen.width() * 0.9) - 40),
                             min(rows + frame, int(screen.height() * 0.9) - 200))
        self.adjustSize()

    def _fill_row(self, row: int, entry, role: str | None) -> None:  # noqa: ANN001 - a SeriesEntry
        picture = QLabel()
        if entry.thumbnail is not None:
            picture.setPixmap(thumbnail_pixmap(entry.thumbnail))
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.table.setCellWidget(row, 0, picture)
        self.table.setItem(row, 1, QTableWidgetItem(f"{entry.description}\n{entry.detail}"))
        guess = DISPLAY_NAMES.get(entry.guess.role or "", "none")
        weak = entry.guess.role is not None and entry.guess.confidence < WEAK_GUESS
        item = QTableWidgetItem(f"{guess} ({entry.guess.confidence:.0%})" + (" ?" if weak else ""))
        item.setToolTip(entry.guess.reason)
        self.table.setItem(row, 2, item)
        for column in (1, 2):
            self.table.item(row, column).setFlags(Qt.ItemFlag.ItemIsEnabled)
        combo = QComboBox()
        combo.addItem(UNUSED, None)
        for name in ROLES:
            combo.addItem(DISPLAY_NAMES[name], name)
        combo.setCurrentIndex(combo.findData(role) if role else 0)
        combo.setEnabled(entry.usable)
        combo.setToolTip("The contrast this series is" if entry.usable else "Not an MR volume that can be used")
        combo.currentIndexChanged.connect(lambda _index: self.message_label.clear())
        self.table.setCellWidget(row, 3, combo)
        self.combos.append(combo)

    def roles(self) -> list[str | None]:
        """The chosen contrast of each row."""
        return [combo.currentData() for combo in self.combos]

    def set_role(self, row: int, role: str | None) -> None:
        self.combos[row].setCurrentIndex(self.combos[row].findData(role) if role else 0)

    def problems(self) -> list[str]:
        """Why the assignment cannot be used: a contrast given twice or not at all (empty when fine)."""
        problems = []
        for role in ROLES:
            rows = [row for row, chosen in enumerate(self.roles()) if chosen == role]
            if len(rows) > 1:
                names = ", ".join(self.scan.entries[r].description for r in rows)
                problems.append(f"{DISPLAY_NAMES[role]} is assigned to {len(rows)} series ({names}); keep one")
        if not any(self.roles()):
            problems.append("No series is assigned to any contrast")
        return problems

    def missing(self) -> list[str]:
        """Contrasts no series is assigned to: the study opens for viewing, but Segment needs all four."""
        return [role for role in ROLES if role not in self.roles()]

    def overrides(self) -> dict[str, str | Path]:
        """Role -> NIfTI file or series UID, as ``engine.io.plan_inputs`` takes them."""
        return {role: self.scan.entries[row].override for row, role in enumerate(self.roles()) if role}

    def _accept(self) -> None:
        problems = self.problems()
        if problems:
            notes = [f"No series is assigned to {DISPLAY_NAMES[role]}: the study opens for viewing, but Segment "
                     "needs all four contrasts" for role in self.missing()]
            self.message_label.setText("<br>".join(problems + notes))
            return
        self.accept()


class StudyController(QObject):
    """Open Study actions, the recent-studies menu, the dialog and background loading.

    Signals:
        dialog_shown(StudyDialog): the scan finished and the dialog is open.
        study_loaded(str case_id): the study is on screen.
        failed(str): the message shown to the user.
    """

    dialog_shown = Signal(object)
    study_loaded = Signal(str)
    failed = Signal(str)

    def __init__(self, window: QMainWindow, store: QSettings | None = None, handle_drops: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.recent = RecentStudies(store or app_settings())
        self.job = BackgroundJob(self)
        self.job.progressed.connect(self._on_progress)
        self.job.failed.connect(self._on_failed)
        self.job.finished.connect(self._on_job_done)
        self.dialog: StudyDialog | None = None
        self.message_box: QMessageBox | None = None
        self._path: Path | None = None
        self._awaiting_window = False
        self.progress = QProgressBar()
        self.progress.setFixedWidth(120)
        self.progress.hide()
        window.statusBar().addPermanentWidget(self.progress)
        file_menu = menu_named(window, "&File")
        self.open_action = make_action(window, "Open &Study...", self.choose_folder,
                                       "Open a study folder (NIfTI files or DICOM series) and check its contrasts",
                                       "Ctrl+O")
        self.open_files_action = make_action(window, "Open Study &Files...", self.choose_files,
                                             "Open NIfTI files of one study and assign their contrasts",
                                             "Ctrl+Shift+O")
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        first = file_menu.actions()[0] if file_menu.actions() else None
        file_menu.insertActions(first, [self.open_action, self.open_files_action, self.recent_menu.menuAction()])
        if handle_drops:
            window.setAcceptDrops(True)
            window.installEventFilter(self)

    # --- choosing -----------------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open Study Folder", self._start_folder())
        if folder:
            self.open_paths([Path(folder)])

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.window, "Open Study Files", self._start_folder(),
                                                "NIfTI (*.nii *.nii.gz);;All files (*)")
        if files:
            self.open_paths([Path(f) for f in files])

    def _start_folder(self) -> str:
        recent = self.recent.paths()
        return str(recent[0].parent) if recent else str(Path.home())

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent.paths():
            action = self.recent_menu.addAction(path.name, lambda p=path: self.open_paths([p]))
            action.setToolTip(str(path))
        self.recent_menu.addSeparator()
        clear = self.recent_menu.addAction("Clear Recent Studies", self.recent.clear)
        clear.setToolTip("Forget the recently opened studies")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Dropped folders or files open as a study (with the dialog)."""
        if watched is self.window and event.type() == QEvent.Type.Drop and event.mimeData().hasUrls():
            paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
            if paths:
                event.acceptProposedAction()
                self.open_paths(paths if len(paths) > 1 or paths[0].is_dir() or _is_nifti(paths[0])
                                else [paths[0].parent])
                return True
        return super().eventFilter(watched, event)

    # --- scanning and loading -------------------------------------------------------------------------------
    def open_paths(self, paths: list[Path]) -> bool:
        """Scan ``paths`` in the background, then show the dialog; False when busy."""
        if self.job.busy:
            return False
        may_replace = getattr(self.window, "may_replace_case", None)
        if may_replace is not None and not may_replace():  # unsaved edits: the user chose Cancel
            return False
        self._path = paths[0] if len(paths) == 1 else paths[0].parent
        self._begin(f"Scanning {self._path.name} ...")
        self.job.start(lambda progress, cancel: scan_study(paths, progress, cancel))
        return True

    def _on_scanned(self, scan: StudyScan) -> None:
        self._end()
        self.dialog = StudyDialog(scan, self.window)
        self.dialog.accepted.connect(lambda: self.load(scan, self.dialog.roles(), self.dialog.overrides()))  # type: ignore[union-attr]
        self.dialog.open()
        self.dialog_shown.emit(self.dialog)

    def load(self, scan: StudyScan, roles: list[str | None], overrides: dict[str, str | Path]) -> None:
        """Load the confirmed study (window.open_case for an unchanged BraTS-named folder)."""
        if self._path is not None:
            self.recent.add(self._path)
        if scan.case_folder is not None and roles == scan.initial_roles():
            if not self._awaiting_window:  # one connection, however often a failed load is retried
                self.window.case_loaded.connect(self._on_window_loaded)  # type: ignore[attr-defined]
                self._awaiting_window = True
            self.window.open_case(scan.case_folder)  # type: ignore[attr-defined]
            return
        self._begin(f"Loading {self._path.name if self._path else 'study'} ...")
        input_path = scan.input_path if scan.kind == "dicom" else None
        self.job.start(lambda progress, cancel: _read_study(input_path, overrides, progress, cancel))

    def _on_window_loaded(self, case_id: str) -> None:
        self.window.case_loaded.disconnect(self._on_window_loaded)  # type: ignore[attr-defined]
        self._awaiting_window = False
        self.study_loaded.emit(case_id)

    def _on_loaded(self, loaded: tuple) -> None:
        self._end()
        case, windows = loaded
        self.window.model.set_case(case, windows)  # type: ignore[attr-defined]
        self.window.statusBar().showMessage(
            f"Opened {case.case_id}: {case.shape[0]} x {case.shape[1]} x {case.shape[2]} on the T1ce grid", 10_000)
        self.study_loaded.emit(case.case_id)

    def _on_failed(self, error: object, details: str) -> None:
        self._end()
        name = self._path.name if self._path is not None else "the study"
        self.window.statusBar().showMessage(f"Could not open {name}", 10_000)  # not "Scanning ..." forever
        if isinstance(error, ValueError):
            message = str(error)
        else:
            message = f"Could not open the study: {type(error).__name__}: {error}. The details are in the log."
            log.error("opening a study failed\n%s", details)
        self.message_box = QMessageBox(QMessageBox.Icon.Critical, "Cannot open study", message,
                                       QMessageBox.StandardButton.Ok, self.window)
        self.message_box.open()
        self.failed.emit(message)

    def _on_job_done(self, result: object) -> None:
        """One handler for both jobs: a scan shows the dialog, a loaded study goes on screen."""
        if isinstance(result, StudyScan):
            self._on_scanned(result)
        else:
            self._on_loaded(result)  # type: ignore[arg-type]

    def _begin(self, text: str) -> None:
        self.window.statusBar().showMessage(text)
        self.progress.setRange(0, 0)
        self.progress.show()

    def _end(self) -> None:
        self.progress.hide()

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.progress.setToolTip(f"{stage} {done}/{total}")

    def shutdown(self) -> None:
        self.job.cancel()
        self.job.wait()


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith((".nii", ".nii.gz"))


def _read_study(input_path: Path | None, overrides: dict[str, str | Path], progress, cancel) -> tuple:  # noqa: ANN001
    """Worker: the case and its default display windows."""
    case = load_study(input_path, overrides, progress=progress, cancel=cancel, partial=True)
    return case, default_window_levels(case)


def install(window: QMainWindow, store: QSettings | None = None, handle_drops: bool = True) -> StudyController:
    """Add File > Open Study... (Ctrl+O), Open Study Files... (Ctrl+Shift+O), Open Recent and study drops."""
    return StudyController(window, store, handle_drops)
