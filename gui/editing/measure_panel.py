"""Live measurements: the lesion table, volumes per label and region, and the RANO 2.0 measurements.

The panel follows the shown label map a short while after the last change (debounced: a brush drag costs one
computation when it pauses). ``engine.lesions.LesionCache`` recomputes only the lesions whose bounding box an
edit touched. The lesion table has one row per lesion of at least the minimum volume (the spin box above it,
stored in the settings; default 0.1 mL); smaller specks are one "small foci (n)" line. Clicking a lesion's row
centres the views on it. The RANO diameters of every measured lesion are drawn on their axial slice; dragging
an end point's handle corrects the measurement (the table, the report and the exports then use the corrected
one, marked "corrected"). "Copy as table" puts the rows and the lesion table on the clipboard as tab-separated
text; "Show RANO slice" moves the crosshair onto the first RANO measurement's slice. Slices count from 1.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDockWidget,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.lesions import DEFAULT_MIN_LESION_ML, LESION_CONNECTIVITY, LesionCache, head_orientation
from engine.measure import (
    Measurements,
    as_tsv,
    lesion_table_rows,
    measurement_rows,
    measurements_from_cache,
    measurements_record,
    rano_text,
)
from gui.settings_store import MIN_LESION_ML_KEY, app_settings, min_lesion_ml
from gui.viewer.orientation import voxel_to_display
from gui.viewer.viewer_model import ViewerModel

log = logging.getLogger(__name__)

DEBOUNCE_MS = 100
MIN_VISIBLE_ROWS = 10  # measurement rows the dock always shows (issue 17: at least ten at the default size)
LESION_HEADERS = ("#", "NCR mL", "ED mL", "ET mL", "Total mL", "Centre slice", "Side", "Lobe", "RANO", "RANO diameters")
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def _fixed_lines_label(lines: int) -> QLabel:
    """A word-wrapping label exactly ``lines`` text lines high, whose text never widens its column."""
    label = QLabel()
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setFixedHeight(label.fontMetrics().lineSpacing() * lines + 4)
    return label


def _compact(table: QTableWidget) -> None:
    """Rows as high as the text needs (the dock shows more of them), read-only, no row numbers."""
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)


class MeasurePanel(QWidget):
    """The lesion table and the measurement rows of ``model.label``.

    Args:
        model: the viewer model.
        parent: Qt parent.
        debounce_ms: delay after the last change before measuring.
        store: settings holding the minimum lesion volume (default: the user's RevSeg settings).
    """

    #: the measurements now match the label map shown (after each refresh)
    updated = Signal()

    def __init__(self, model: ViewerModel, parent: QWidget | None = None, debounce_ms: int = DEBOUNCE_MS,
                 store: QSettings | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.store = store or app_settings()
        self.measurements: Measurements | None = None
        self.cache: LesionCache | None = None
        #: the slice views to pan onto a lesion (``install`` gives the window's; none for a bare panel)
        self.views: Callable[[], Sequence[object]] = tuple
        self._lines_set: list = []
        self._line_owners: list[tuple[int, str]] = []
        self._build()
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(self.refresh)
        model.label_changed.connect(self.schedule)
        model.case_changed.connect(self._on_case_changed)
        model.measurement_lines_changed.connect(self._on_lines_moved)
        self.refresh()

    def _build(self) -> None:
        self.min_volume = QDoubleSpinBox()
        self.min_volume.setRange(0.0, 1000.0)
        self.min_volume.setDecimals(2)
        self.min_volume.setSingleStep(0.05)
        self.min_volume.setSuffix(" mL")
        self.min_volume.setValue(min_lesion_ml(self.store, DEFAULT_MIN_LESION_ML))
        self.min_volume.setToolTip("Smaller whole-tumour components are listed as small foci, not as lesions")
        self.min_volume.valueChanged.connect(self._on_min_volume_changed)
        self.lesion_header = _fixed_lines_label(1)
        self.lesion_table = QTableWidget(0, len(LESION_HEADERS))
        self.lesion_table.setHorizontalHeaderLabels(LESION_HEADERS)
        self.lesion_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.lesion_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.lesion_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.lesion_table.horizontalHeader().setStretchLastSection(True)
        _compact(self.lesion_table)
        self.lesion_table.cellClicked.connect(self.centre_on_row)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Measurement", "Value"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        _compact(self.table)
        # Fixed heights: new text must not resize the dock (and with it the views) after every measurement.
        self.rano_label = _fixed_lines_label(3)
        self.rano_label.setToolTip("Drag the end points (yellow handles) of a RANO line in the axial view to "
                                   "correct it")
        self.copy_button = QPushButton("Copy as table")
        self.copy_button.clicked.connect(self.copy_table)
        self.show_button = QPushButton("Show RANO slice")
        self.show_button.clicked.connect(self.show_rano_slice)
        threshold = QHBoxLayout()
        threshold.addWidget(QLabel("Minimum lesion volume"))
        threshold.addWidget(self.min_volume)
        threshold.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.show_button)
        left = QVBoxLayout()
        left.addWidget(self.table, 1)
        left.addWidget(self.rano_label)
        left.addLayout(buttons)
        right = QVBoxLayout()
        right.addLayout(threshold)
        right.addWidget(self.lesion_header)
        right.addWidget(self.lesion_table, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addLayout(left, 2)
        layout.addLayout(right, 4)

    # --- computing ----------------------------------------------------------------------------------------
    def schedule(self) -> None:
        """Recompute after ``DEBOUNCE_MS`` without further changes."""
        self.timer.start()

    def _on_case_changed(self) -> None:
        self.cache = None  # another grid, another head: start afresh
        self.schedule()

    def _ensure_cache(self) -> LesionCache:
        if self.cache is None:
            case = self.model.case
            orientation = head_orientation(case.affine, case.reference.data) if case is not None else None
            self.cache = LesionCache(self.model.spacing, orientation, self.min_volume.value())
        return self.cache

    def refresh(self) -> None:
        """Measure the shown label map now (only the lesions an edit touched are measured again)."""
        self.timer.stop()
        label = self.model.label
        if label is None:
            self.measurements = None
        else:
            cache = self._ensure_cache()
            cache.update(label)
            self.measurements = measurements_from_cache(cache)
        self._fill()
        self.updated.emit()

    def current(self) -> Measurements | None:
        """The measurements of the label map shown now (measured first if an edit is pending)."""
        if self.timer.isActive() or (self.model.label is not None) != (self.measurements is not None):
            self.refresh()
        return self.measurements

    def record(self) -> dict | None:
        """The measurements as sidecar data (voxel indices on the viewer's RAS+ grid, positions in RAS mm)."""
        measurements = self.current()
        if measurements is None or self.model.case is None:
            return None
        return measurements_record(measurements, self.model.case.affine,
                                   grid="the viewer's grid: the T1ce reoriented to RAS+ (axis 0 right, 2 superior)")

    def _on_min_volume_changed(self, value: float) -> None:
        self.store.setValue(MIN_LESION_ML_KEY, float(value))
        label = self.model.label
        if self.cache is not None and label is not None:
            self.timer.stop()
            self.cache.update(label)  # a pending edit first: the masks must match the label map
            self.cache.set_min_volume(value, label)
            self.measurements = measurements_from_cache(self.cache)
            self._fill()
        elif self.cache is not None:
            self.cache = None

    def _on_lines_moved(self) -> None:
        """A handle was dragged: the moved line becomes a corrected RANO measurement."""
        lines = self.model.measurement_lines
        if lines == self._lines_set or len(lines) != len(self._line_owners) or self.cache is None:
            return
        for moved, before, (key, which) in zip(lines, self._lines_set, self._line_owners, strict=True):
            if moved != before:
                try:
                    self.cache.correct(key, which, moved)
                except ValueError as error:
                    log.warning("RANO correction ignored: %s", error)
        self._lines_set = list(lines)
        if self.measurements is not None:
            self.measurements = dataclasses.replace(self.measurements, table=self.cache.table)
        self._fill()

    # --- showing ------------------------------------------------------------------------------------------
    def _fill(self) -> None:
        measurements = self.measurements
        rows = measurement_rows(measurements) if measurements is not None else []
        self.table.setRowCount(len(rows))
        for row, (name, value) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            item = QTableWidgetItem(value)
            item.setTextAlignment(_RIGHT)
            self.table.setItem(row, 1, item)
        self._fill_lesions()
        self._set_lines()
        rano = measurements.bidimensional if measurements is not None else None
        self.show_button.setEnabled(rano is not None)
        self.copy_button.setEnabled(measurements is not None)
        if measurements is None:
            self.rano_label.setText("No segmentation")
        elif rano is None:
            self.rano_label.setText("No enhancing tumour: no RANO measurement")
        else:
            primary = measurements.table.primary
            self.rano_label.setText(f"RANO lesion {primary.number}: {rano_text(rano)}. "  # type: ignore[union-attr]
                                    f"Sum of products ({len(measurements.table.targets)} target lesions): "
                                    f"{measurements.table.sum_of_products_mm2:.0f} mm²")

    def _fill_lesions(self) -> None:
        table = self.measurements.table if self.measurements is not None else None
        minimum = table.min_volume_ml if table is not None else self.min_volume.value()
        self.lesion_table.horizontalHeaderItem(4).setText(f"Total mL (>= {minimum:g})")
        self.lesion_table.clearSpans()
        if table is None:
            self.lesion_header.setText("Lesions: no segmentation")
            self.lesion_table.setRowCount(0)
            return
        self.lesion_header.setText(f"Lesions >= {minimum:g} mL ({LESION_CONNECTIVITY}-connected): "
                                   f"{len(table.lesions)}; small foci (< {minimum:g} mL): {table.small_foci}")
        cells = lesion_table_rows(table)
        self.lesion_table.setRowCount(len(cells) + 1)
        for row, values in enumerate(cells):
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if 0 < column < 6:
                    item.setTextAlignment(_RIGHT)
                if column == 7:
                    item.setToolTip("The lobe needs a registered anatomical atlas, which RevSeg does not have")
                self.lesion_table.setItem(row, column, item)
        foci = QTableWidgetItem(f"small foci ({table.small_foci}): {table.small_foci_ml:.3f} mL in all, "
                                f"each below {minimum:g} mL - not counted as lesions")
        foci.setFlags(Qt.ItemFlag.ItemIsEnabled)
        self.lesion_table.setItem(len(cells), 0, foci)
        self.lesion_table.setSpan(len(cells), 0, 1, len(LESION_HEADERS))

    def _set_lines(self) -> None:
        """Both RANO diameters of every measured lesion, drawn (with handles) on their axial slices."""
        lines, owners = [], []
        table = self.measurements.table if self.measurements is not None else None
        for lesion in table.lesions if table is not None else ():
            if lesion.rano is not None:
                lines += [lesion.rano.longest_ends, lesion.rano.perpendicular_ends]
                owners += [(lesion.key, "longest"), (lesion.key, "perpendicular")]
        self._lines_set, self._line_owners = [(tuple(a), tuple(b)) for a, b in lines], owners
        self.model.set_measurement_lines(lines)
        self._lines_set = list(self.model.measurement_lines)

    def centre_on_row(self, row: int, _column: int = 0) -> None:
        """Move the crosshair (and so every view's slice) to the centre of the lesion in ``row``; views that are
        zoomed in are also panned so that the lesion sits in their middle."""
        table = self.measurements.table if self.measurements is not None else None
        if table is not None and 0 <= row < len(table.lesions):
            centre = table.lesions[row].centre
            self.model.set_cursor(centre)
            for view in self.views():
                if not getattr(view, "_auto_fit", True):  # a fitted view shows the whole slice already
                    _pan_to(view, centre)

    def copy_table(self) -> str:
        """Put the measurements and the lesion table on the clipboard as tab-separated rows; returns the text."""
        measurements = self.current()
        text = as_tsv(measurements) if measurements is not None else ""
        QApplication.clipboard().setText(text)
        return text

    def show_rano_slice(self) -> None:
        """Move the crosshair to the middle of the first RANO measurement's longest diameter, on its slice."""
        rano = self.measurements.bidimensional if self.measurements is not None else None
        if rano is not None:
            a, b = rano.longest_ends
            self.model.set_cursor(tuple((p + q) // 2 for p, q in zip(a, b, strict=True)))


def _pan_to(view: object, voxel: tuple[int, int, int]) -> None:
    """Pan a slice view (keeping its zoom) so that ``voxel`` is in its middle."""
    column, row = voxel_to_display(voxel, view.model.shape, view.plane)  # type: ignore[attr-defined]
    sx, sy = view.display_spacing  # type: ignore[attr-defined]
    camera = view.renderer.GetActiveCamera()  # type: ignore[attr-defined]
    _, _, focal_z = camera.GetFocalPoint()
    _, _, position_z = camera.GetPosition()
    camera.SetFocalPoint(column * sx, row * sy, focal_z)
    camera.SetPosition(column * sx, row * sy, position_z)
    view.render()  # type: ignore[attr-defined]


def install(window: QMainWindow, store: QSettings | None = None) -> MeasurePanel:
    """Add the measurement dock below the views (and its toggle in ``window.menus["View"]``); returns the panel.

    The dock sits in the bottom area, across the window's width: the lesion table needs its ten columns and
    the measurement rows their height (at least ten rows at the default window size).
    """
    panel = MeasurePanel(window.model, window, store=store)  # type: ignore[attr-defined]
    panel.views = lambda: getattr(window, "editable_views", ())
    dock = QDockWidget("Measurements", window)
    dock.setObjectName("measure-dock")
    dock.setWidget(panel)
    # the right-hand docks (review, editing) keep the full height; this one spans the views' width
    window.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    panel.table.setMinimumHeight(_table_height(panel.table, MIN_VISIBLE_ROWS))
    menus = getattr(window, "menus", {})
    menu = menus["View"] if "View" in menus else window.menuBar().addMenu("&Measurements")
    menu.addAction(dock.toggleViewAction())
    panel.dock = dock  # type: ignore[attr-defined]
    return panel


def _table_height(table: QTableWidget, rows: int) -> int:
    """Height of ``table`` that shows ``rows`` full rows under its header (and a horizontal scroll bar)."""
    return (rows * table.verticalHeader().defaultSectionSize() + table.horizontalHeader().sizeHint().height()
            + table.horizontalScrollBar().sizeHint().height() + 2 * table.frameWidth())
