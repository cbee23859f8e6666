"""The one-page report drawn to PNG and PDF: layout, overlay colours, RANO lines, demo banner."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from engine.case import default_demo_case, load_case_folder
from engine.labels import LABEL_INFO
from engine.report import ModelInfo, build_report
from gui.review.report_render import LINE_COLOURS, PAGE_SIZE, render, slice_rgb
from tests.gui.edit_helpers import make_case

pytestmark = pytest.mark.gui
# Set to a path (e.g. docs/report-sample.png) to keep the rendered demo report.
SAMPLE_ENV = "REVSEG_REPORT_SAMPLE"


def _pixels(path: Path) -> np.ndarray:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return data[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


def _has_colour(pixels: np.ndarray, rgb, tolerance: int = 12) -> int:
    return int(np.count_nonzero(np.all(np.abs(pixels.astype(int) - rgb) <= tolerance, axis=-1)))


def test_slice_rgb_blends_label_colours(tmp_path):
    case = make_case(tmp_path)
    content = build_report(case, case.label)
    key = content.key_slices[0]
    rgb = slice_rgb(key, alpha=1.0)
    for value, info in LABEL_INFO.items():
        if (key.label == value).any():
            assert np.all(rgb[key.label == value] == info.rgb)
    background = key.label == 0
    assert np.all(rgb[background][:, 0] == rgb[background][:, 1])  # grey where there is no label


def test_demo_report_png_and_pdf(qtbot, tmp_path):
    case = load_case_folder(default_demo_case())
    model = ModelInfo("RevSeg", "revseg-demo.safetensors", "0123456789abcdef" * 4, demo=True)
    content = build_report(case, case.label, model=model, edited=True, extra_identifiers={"Patient ID": "PHANTOM"})
    png = render(content, tmp_path / "report.png")
    pixels = _pixels(png)
    assert pixels.shape == (PAGE_SIZE[1], PAGE_SIZE[0], 3)
    assert _has_colour(pixels[:250], (200, 20, 20)) > 10_000  # the red demo banner near the top
    assert _has_colour(pixels, (LINE_COLOURS[0].red(), LINE_COLOURS[0].green(), LINE_COLOURS[0].blue())) > 30
    overlay = slice_rgb(content.key_slices[0])
    et = overlay[content.key_slices[0].label == 4]
    assert _has_colour(pixels, et.mean(axis=0).astype(int), tolerance=40) > 50  # ET drawn in its colour
    pdf = render(content, tmp_path / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") >= 1
    with pytest.raises(ValueError, match="png or .pdf"):
        render(content, tmp_path / "report.jpg")
    if os.environ.get(SAMPLE_ENV):
        shutil.copyfile(png, os.environ[SAMPLE_ENV])


def test_report_without_demo_weights_has_no_banner(qtbot, tmp_path):
    case = make_case(tmp_path)
    content = build_report(case, case.label, model=ModelInfo("RevSeg", "trained.safetensors", "ab" * 32))
    pixels = _pixels(render(content, tmp_path / "report.png"))
    assert _has_colour(pixels[:250], (200, 20, 20)) == 0


def test_install_saves_the_shown_segmentation(qtbot, tmp_path):
    from gui.review import report_render
    from tests.gui.edit_helpers import BareWindow, make_model

    model = make_model(tmp_path)
    window = BareWindow(model)
    qtbot.addWidget(window)
    controller = report_render.install(window, lambda: ModelInfo("RevSeg", "w.safetensors", "cd" * 32, demo=True))
    assert controller.action in window.actions()
    model.notify_label_edited()
    content = controller.content()
    assert content.edited and content.model.demo and content.identifiers["Case"] == "EDIT-001"
    path = controller.save(tmp_path / "r.pdf")
    assert path.read_bytes().startswith(b"%PDF")
    model.set_segmentation(None)
    with pytest.raises(ValueError, match="segment it"):
        controller.content()


def test_report_and_viewer_draw_the_rano_lines_in_one_colour(qtbot, tmp_path):
    """Both diameters in the viewer's colour (the report drew the perpendicular in magenta before issue 17)."""
    from vtkmodules.vtkRenderingCore import vtkRenderer

    from engine.rano import RANO_LINE_RGB
    from gui.review.report_render import RANO_COLOUR
    from gui.viewer.measurement_lines import MeasurementLines

    viewer = MeasurementLines(vtkRenderer()).actor.GetProperty().GetColor()
    assert tuple(round(c * 255) for c in viewer) == RANO_LINE_RGB == RANO_COLOUR.getRgb()[:3]
    assert all(colour == RANO_COLOUR for colour in LINE_COLOURS)
    case = make_case(tmp_path)
    content = build_report(case, case.label)
    assert len(content.key_slices[0].lines) == 2
    pixels = _pixels(render(content, tmp_path / "report.png"))
    assert _has_colour(pixels, RANO_LINE_RGB) > 30
    assert _has_colour(pixels, (255, 0, 200), tolerance=30) == 0  # no magenta line any more
