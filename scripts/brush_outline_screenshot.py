"""Screenshot of the brush outline under the mouse (issue 17), for docs/editing.md.

Opens a case (default: the real TCGA-DU-7294 with its fusion reference as the segmentation), installs the edit
dock, picks the brush (its button shows as checked), zooms the axial view and moves the mouse over the tumour
with simulated Qt events, then grabs the screen (QScreen.grabWindow: QWidget.grab() cannot see what OpenGL
drew). Run headless:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/brush_outline_screenshot.py
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, QSettings, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui.shell.app import create_application  # noqa: E402
from gui.shell.main_window import MainWindow  # noqa: E402
from gui.shell.workstation import build_workstation  # noqa: E402

log = logging.getLogger("brush_outline_screenshot")
REAL = ROOT.parent / "shared" / "data" / "real" / "TCGA-DU-7294"


def hover(view, voxel: tuple[int, int, int]) -> None:  # noqa: ANN001 - a SliceView
    """Move the mouse over ``voxel`` of ``view`` (no button held), as a real mouse would."""
    x, y = view.voxel_to_display_at(voxel)
    ratio = view.vtk_widget.devicePixelRatioF()
    point = QPointF(x / ratio, view.vtk_widget.height() - 1 - y / ratio)
    QApplication.sendEvent(view.vtk_widget, QMouseEvent(
        QEvent.Type.MouseMove, point, view.vtk_widget.mapToGlobal(point), Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=REAL, help="case folder (default: TCGA-DU-7294)")
    parser.add_argument("--label", type=Path, default=REAL / "reference" / "fusion-mav.nii.gz",
                        help="label map shown as the segmentation (default: the case's fusion reference)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "brush-outline.png")
    parser.add_argument("--radius", type=float, default=6.0, help="brush radius in mm")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from scripts.review_screenshots import read_label

    app = create_application()
    layout_store = QSettings(str(Path(tempfile.mkdtemp()) / "layout.ini"), QSettings.Format.IniFormat)
    store = QSettings(str(Path(tempfile.mkdtemp()) / "settings.ini"), QSettings.Format.IniFormat)
    # the whole workstation, as users see it; the user's saved layout and settings neither read nor changed
    window = build_workstation(MainWindow(layout_store=layout_store), store)
    controller = window.edit_controller
    window.resize(1280, 900)
    window.move(0, 0)
    window.show()

    def stage() -> None:
        model = window.model
        if args.label and args.label.is_file():
            model.set_segmentation(read_label(args.label, model.shape), source="file")
        label = model.label if model.label is not None else np.zeros(model.shape, np.uint8)
        tumour = np.argwhere(label > 0)
        centre = tuple(int(v) for v in (tumour.mean(axis=0) if len(tumour) else np.array(model.shape) // 2))
        model.set_cursor(centre)
        controller.update_settings(radius_mm=args.radius, value=2)
        controller.set_tool("brush")
        axial = window.axial_view
        axial.zoom(1.8)
        edge = np.argwhere(label[:, :, centre[2]] == 2)  # the mouse on the oedema's rim
        target = (int(edge[:, 0].max()), centre[1], centre[2]) if len(edge) else centre
        for view in window.slice_views:
            view.render()
        hover(axial, target)
        QTimer.singleShot(800, grab)

    def grab() -> None:
        for view in window.all_views:
            view.render()
        geometry = window.frameGeometry()
        pixmap = window.screen().grabWindow(0, geometry.x(), geometry.y(), geometry.width(), geometry.height())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        pixmap.save(str(args.out))
        outline = window.axial_view.brush_outline
        log.info("wrote %s (outline radius %.1f px, %.1f mm)", args.out,
                 outline.radius_pixels(window.axial_view.renderer) or 0.0, args.radius)
        window.close()

    window.case_loaded.connect(lambda _case_id: QTimer.singleShot(600, stage))
    window.load_failed.connect(lambda _message: window.close())
    window.open_case(args.case)
    QTimer.singleShot(120_000, window.close)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
