"""Draw the one-page report (``engine.report.ReportContent``) with QPainter: PNG via QImage, PDF via QPdfWriter.

The page is A4 portrait in a fixed logical coordinate system (1240 x 1754, 150 dpi), so the PNG and the PDF
have the same layout. Key slices are drawn from the numpy arrays: grey values through the slice's window,
labels blended in the BraTS colours, the RANO diameters as lines in the viewer's RANO colour
(``engine.rano.RANO_LINE_RGB``, one constant for both). The measurement rows and the lesion list come from the
viewer's measurement panel when there is one (so RANO corrections made by dragging reach the report).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QImage,
    QKeySequence,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
)
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from engine.labels import LABEL_INFO
from engine.rano import RANO_LINE_RGB
from engine.report import (
    DEMO_NOTICE,
    RESEARCH_NOTICE,
    KeySlice,
    ModelInfo,
    ReportContent,
    build_report,
    provenance_rows,
)

log = logging.getLogger(__name__)

PAGE_SIZE = (1240, 1754)  # A4 at 150 dpi
MARGIN = 70
OVERLAY_ALPHA = 0.45
RANO_COLOUR = QColor(*RANO_LINE_RGB)  # the same colour as the viewer's lines
LINE_COLOURS = (RANO_COLOUR, RANO_COLOUR)  # longest, perpendicular


def slice_rgb(key: KeySlice, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """The key slice as (rows, columns, 3) uint8: windowed grey with the labels blended in their colours."""
    low, high = key.window
    grey = np.clip((key.image - low) / (high - low), 0.0, 1.0) * 255.0
    rgb = np.repeat(grey[..., None], 3, axis=2)
    for value, info in LABEL_INFO.items():
        mask = key.label == value
        rgb[mask] = (1 - alpha) * rgb[mask] + alpha * np.asarray(info.rgb, dtype=float)
    return np.ascontiguousarray(np.rint(rgb).astype(np.uint8))


def _qimage(rgb: np.ndarray) -> QImage:
    rows, columns, _ = rgb.shape
    return QImage(rgb.tobytes(), columns, rows, 3 * columns, QImage.Format.Format_RGB888).copy()


class _Page:
    """Draws the report top to bottom, tracking the current height."""

    def __init__(self, painter: QPainter, content: ReportContent) -> None:
        self.painter, self.content = painter, content
        self.y = MARGIN
        self.width = PAGE_SIZE[0] - 2 * MARGIN

    def font(self, size: int, bold: bool = False) -> None:
        font = QFont("DejaVu Sans")
        font.setPixelSize(size)
        font.setBold(bold)
        self.painter.setFont(font)

    def text(self, text: str, size: int = 22, bold: bool = False, colour: QColor | None = None,
             height: int | None = None) -> None:
        self.font(size, bold)
        self.painter.setPen(colour or QColor("black"))
        line = height or int(size * 1.5)
        self.painter.drawText(QRectF(MARGIN, self.y, self.width, line), Qt.AlignmentFlag.AlignVCenter, text)
        self.y += line

    def banner(self, text: str) -> None:
        rect = QRectF(MARGIN, self.y, self.width, 60)
        self.painter.fillRect(rect, QColor(200, 20, 20))
        self.font(30, bold=True)
        self.painter.setPen(QColor("white"))
        self.painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        self.y += 75

    def rows(self, title: str, rows: list[tuple[str, str]], x: float, width: float, top: float) -> float:
        """A titled two-column table at (x, top); returns its bottom."""
        self.font(24, bold=True)
        self.painter.setPen(QColor("black"))
        self.painter.drawText(QRectF(x, top, width, 36), Qt.AlignmentFlag.AlignVCenter, title)
        y = top + 40
        self.font(19)
        metrics = self.painter.fontMetrics()
        name_width = min(max(metrics.horizontalAdvance(name) for name, _ in rows) + 24, width * 0.7) if rows else 0
        value_width = width - name_width - 12
        for number, (name, value) in enumerate(rows):
            if number % 2 == 0:
                self.painter.fillRect(QRectF(x, y, width, 28), QColor(238, 238, 238))
            self.painter.drawText(QRectF(x + 6, y, name_width, 28), Qt.AlignmentFlag.AlignVCenter, name)
            shown = metrics.elidedText(value, Qt.TextElideMode.ElideMiddle, int(value_width))
            self.painter.drawText(QRectF(x + name_width + 6, y, value_width, 28),
                                  Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, shown)
            y += 28
        return y

    def key_slices(self, height: float = 600) -> None:
        slices = self.content.key_slices[:2]
        gap = 30
        cell = (self.width - gap * (len(slices) - 1)) / max(len(slices), 1)
        for number, key in enumerate(slices):
            self._key_slice(key, QRectF(MARGIN + number * (cell + gap), self.y, cell, height - 40))
            self.font(19)
            self.painter.setPen(QColor("black"))
            self.painter.drawText(QRectF(MARGIN + number * (cell + gap), self.y + height - 38, cell, 30),
                                  Qt.AlignmentFlag.AlignCenter, key.title)
        self.y += height + 10

    def _key_slice(self, key: KeySlice, box: QRectF) -> None:
        rows, columns = key.image.shape
        width_mm, height_mm = columns * key.pixel_mm[1], rows * key.pixel_mm[0]
        scale = min(box.width() / width_mm, box.height() / height_mm)
        target = QRectF(box.x() + (box.width() - width_mm * scale) / 2, box.y() + (box.height() - height_mm * scale) / 2,
                        width_mm * scale, height_mm * scale)
        self.painter.fillRect(box, QColor("black"))
        self.painter.drawImage(target, _qimage(slice_rgb(key)))
        sx, sy = target.width() / columns, target.height() / rows
        for start, end in key.lines:
            self.painter.setPen(QPen(RANO_COLOUR, 3))
            points = [QPointF(target.x() + (c + 0.5) * sx, target.y() + (r + 0.5) * sy) for r, c in (start, end)]
            self.painter.drawLine(*points)
        self._orientation_marks(target)

    def _orientation_marks(self, target: QRectF) -> None:
        self.font(18, bold=True)
        self.painter.setPen(QColor(255, 255, 255))
        self.painter.drawText(QRectF(target.x() + 4, target.center().y() - 12, 30, 24), "R")
        self.painter.drawText(QRectF(target.right() - 24, target.center().y() - 12, 30, 24), "L")
        self.painter.drawText(QRectF(target.center().x() - 8, target.y() + 2, 30, 24), "A")

    def legend(self) -> None:
        x = MARGIN
        self.font(19)
        entries = [(QColor(*info.rgb), f"{info.short} ({value})") for value, info in LABEL_INFO.items()]
        entries += [(RANO_COLOUR, "RANO diameters")]
        for colour, text in entries:
            self.painter.fillRect(QRectF(x, self.y + 6, 20, 20), colour)
            self.painter.setPen(QColor("black"))
            self.painter.drawText(QRectF(x + 26, self.y, 260, 32), Qt.AlignmentFlag.AlignVCenter, text)
            x += 40 + self.painter.fontMetrics().horizontalAdvance(text)
        self.y += 44


def paint_report(painter: QPainter, content: ReportContent) -> None:
    """Draw ``content`` on a painter whose coordinates span ``PAGE_SIZE``."""
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # voxels stay crisp
    painter.fillRect(QRectF(0, 0, *PAGE_SIZE), QColor("white"))
    page = _Page(painter, content)
    page.text("Brain tumour segmentation report", size=40, bold=True, height=60)
    if DEMO_NOTICE in content.notices:
        page.banner(DEMO_NOTICE)
    identifiers = list(content.identifiers.items())
    bottom = page.rows("Study", identifiers, MARGIN, page.width, page.y)
    page.y = bottom + 20
    page.key_slices()
    page.legend()
    half = (page.width - 40) / 2
    left = page.rows("Measurements", content.rows, MARGIN, half, page.y)
    right = page.rows("Model and provenance", _short_hash(provenance_rows(content)), MARGIN + half + 40, half, page.y)
    right = page.rows("Lesions (RANO diameters in mm)", content.lesion_rows, MARGIN + half + 40, half, right + 16)
    page.y = max(left, right) + 30
    for notice in content.notices:
        if notice != DEMO_NOTICE:
            page.text(notice, size=20, colour=QColor(90, 90, 90))
    minimum = content.measurements.table.min_volume_ml
    for line in (f"Volumes: voxel counts x voxel volume. Lesions: 26-connected whole-tumour components of at least "
                 f"{minimum:g} mL;", "smaller ones are small foci. Slices are counted from 1 (inferior to superior).",
                 "RANO 2.0: axial slice of the largest enhancing cross-section (rim with the cavity it encloses);",
                 "both diameters inside the lesion, edge to edge; measurable if both >= 10 mm; up to 3 target lesions."):
        page.text(line, size=16, colour=QColor(90, 90, 90), height=22)


def _short_hash(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The SHA-256 is long: its first 16 and last 8 hex digits fit the column and still identify it."""
    return [(n, f"{v[:16]}...{v[-8:]}" if n == "Weights SHA-256" and len(v) == 64 else v) for n, v in rows]


def render_png(content: ReportContent, path: str | Path) -> Path:
    """Write the report as a PNG of ``PAGE_SIZE`` pixels."""
    image = QImage(*PAGE_SIZE, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    try:
        paint_report(painter, content)
    finally:
        painter.end()
    image.setText("Disclaimer", RESEARCH_NOTICE)  # a PNG text chunk: the notice travels with the file
    path = Path(path)
    if not image.save(str(path), "PNG"):
        raise OSError(f"could not write the report image {path}")
    log.info("wrote report %s", path)
    return path


def render_pdf(content: ReportContent, path: str | Path) -> Path:
    """Write the report as a one-page A4 PDF."""
    path = Path(path)
    writer = QPdfWriter(str(path))
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(0, 0, 0, 0)))
    writer.setResolution(150)
    writer.setTitle(f"RevSeg segmentation report - {RESEARCH_NOTICE}")
    writer.setCreator("RevSeg")
    painter = QPainter(writer)
    try:
        painter.setWindow(0, 0, *PAGE_SIZE)
        painter.setViewport(0, 0, writer.width(), writer.height())
        paint_report(painter, content)
    finally:
        painter.end()
    log.info("wrote report %s", path)
    return path


def render(content: ReportContent, path: str | Path) -> Path:
    """PNG or PDF by the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        return render_png(content, path)
    if suffix == ".pdf":
        return render_pdf(content, path)
    raise ValueError(f"report file must end in .png or .pdf, got {Path(path).name}")


class ReportController:
    """File > Save Report...: the report of the shown case and label map, as PNG or PDF.

    Args:
        window: the main window (``window.model`` is the viewer model).
        model_info: returns the model that made the AI result (name, weights, hash, demo flag); the default
            says "RevSeg" with unknown weights.
    """

    def __init__(self, window: QMainWindow, model_info: Callable[[], ModelInfo] | None = None) -> None:
        self.window = window
        self.model_info = model_info or ModelInfo

    def content(self) -> ReportContent:
        model = self.window.model  # type: ignore[attr-defined]
        if model.case is None or model.label is None:
            raise ValueError("open a case and segment it (or load a label map) before saving a report")
        patient = getattr(self.window, "patient", None)
        panel = getattr(self.window, "measure_panel", None)  # its measurements carry the RANO corrections
        return build_report(model.case, model.label, model=self.model_info(), edited=model.label_source == "edited",
                            modality=model.active_modality, extra_identifiers=dict(patient.rows()) if patient else None,
                            measurements=panel.current() if panel is not None else None)

    def save(self, path: str | Path) -> Path:
        """Write the report to ``path`` (.png or .pdf)."""
        return render(self.content(), path)

    def save_dialog(self) -> Path | None:
        """Ask where to save the report and write it; errors are shown in a message box."""
        model = self.window.model  # type: ignore[attr-defined]
        start = str(Path(model.case.folder) / f"{model.case.case_id}_report.pdf") if model.case is not None else ""
        path, _ = QFileDialog.getSaveFileName(self.window, "Save Report", start, "PDF (*.pdf);;PNG image (*.png)")
        if not path:
            return None
        try:
            return self.save(path)
        except (ValueError, OSError) as error:
            QMessageBox.warning(self.window, "Save Report", str(error))
            return None


def install(window: QMainWindow, model_info: Callable[[], ModelInfo] | None = None) -> ReportController:
    """Add File > Save Report... (Ctrl+Shift+P) to ``window``; returns the controller."""
    controller = ReportController(window, model_info)
    action = QAction("Save &Report...", window)
    action.setShortcut(QKeySequence("Ctrl+Shift+P"))
    action.setStatusTip("One-page report (PDF or PNG) of the shown segmentation")
    action.triggered.connect(controller.save_dialog)
    window.addAction(action)
    menus = getattr(window, "menus", {})
    (menus["File"] if "File" in menus else window.menuBar().addMenu("&Report")).addAction(action)
    controller.action = action  # type: ignore[attr-defined]
    return controller
