"""Screenshots for docs/gui.md (issue 17): the lesion table dock and the RANO lines with their handles, on the
real case BraTS-GLI-00000-000 with its manual reference loaded (../shared/data/real; never copied here).

The window is grabbed from the screen (``QScreen.grabWindow``; ``QWidget.grab`` cannot see VTK's OpenGL):

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1200x24" .venv/bin/python scripts/measurement_screenshots.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QPoint, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from engine.case import load_case_folder  # noqa: E402
from engine.recovery import RECOVERY_ENV  # noqa: E402
from gui.shell.app import DEFAULT_WINDOW_SIZE  # noqa: E402
from gui.shell.workstation import build_workstation  # noqa: E402
from gui.viewer.orientation import voxel_to_display  # noqa: E402

CASE = ROOT.parent / "shared" / "data" / "real" / "BraTS-GLI-00000-000"


def settle(app: QApplication, rounds: int = 20) -> None:
    for _ in range(rounds):
        app.processEvents()


def grab(app: QApplication, widget: QWidget, path: Path) -> None:
    """The widget's area of the screen (VTK content included) as a PNG."""
    settle(app)
    top_left = widget.mapToGlobal(QPoint(0, 0))
    app.primaryScreen().grabWindow(0).copy(top_left.x(), top_left.y(), widget.width(), widget.height()).save(str(path))
    print("wrote", path)


def centre_view_on(view, voxel: tuple[int, int, int], zoom: float) -> None:
    """Zoom the slice view by ``zoom`` about ``voxel``."""
    view.zoom(zoom)
    column, row = voxel_to_display(voxel, view.model.shape, view.plane)
    sx, sy = view.display_spacing
    camera = view.renderer.GetActiveCamera()
    _, _, fz = camera.GetFocalPoint()
    _, _, pz = camera.GetPosition()
    camera.SetFocalPoint(column * sx, row * sy, fz)
    camera.SetPosition(column * sx, row * sy, pz)
    view.render()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if not CASE.is_dir():
        raise SystemExit(f"{CASE} is absent: the screenshots need the real case")
    app = QApplication.instance() or QApplication(sys.argv)
    scratch = Path(tempfile.mkdtemp(prefix="revseg-shots-"))
    os.environ[RECOVERY_ENV] = str(scratch / "recovery")
    window = build_workstation(store=QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(*DEFAULT_WINDOW_SIZE)
    window.show()
    case = load_case_folder(CASE)
    window.model.set_case(case)
    window.model.set_segmentation(case.label.copy(), source="file")
    panel = window.measure_panel
    panel.refresh()
    panel.lesion_table.selectRow(0)
    panel.centre_on_row(0)
    settle(app)
    grab(app, window, args.out / "measurements-dock-window.png")
    grab(app, panel.dock, args.out / "lesion-table.png")
    panel.show_rano_slice()
    window.resize(1560, 1150)  # a larger axial view for the handles
    window.measure_panel.dock.hide()
    settle(app)
    rano = panel.measurements.bidimensional
    middle = tuple((p + q) // 2 for p, q in zip(*rano.longest_ends, strict=True))
    centre_view_on(window.axial_view, middle, 2.4)
    grab(app, window.axial_view, args.out / "rano-handles.png")
    window.close()


if __name__ == "__main__":
    main()
