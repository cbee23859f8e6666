"""Screenshots for docs/gui.md (issue 16): the title with the patient's identity, the Save / Discard / Cancel
prompt, the recovery question, and a DICOM-SEG opened with Open Segmentation.

A synthetic DICOM study (patient "Synthetic^Head", ID SYN-1) and a DICOM-SEG of it made with dcmqi's
itkimage2segimage are written to a temporary folder. Xvfb has no window manager, so each shot carries a strip
with the window's real title text (``windowTitle()``) above the grabbed window:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/issue16_screenshots.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtGui import QColor, QPainter, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from engine.interactive import load_study  # noqa: E402
from engine.recovery import RECOVERY_ENV, write_recovery  # noqa: E402
from gui.shell import autosave  # noqa: E402
from gui.shell.app import create_application  # noqa: E402
from gui.shell.workstation import build_workstation  # noqa: E402
from gui.viewer.viewer_model import default_window_levels  # noqa: E402
from scripts.workflow_screenshots import settle, wait_for  # noqa: E402
from tests.engine.synthetic_cases import LPS_AXES, grid_from, write_dicom_study  # noqa: E402
from tests.gui.test_open_segmentation import _dcmqi_seg  # noqa: E402

GRID = grid_from((64, 72, 48), (1.0, 1.0, 1.0), LPS_AXES)


def grab(widget: object, path: Path) -> None:
    """The window as on screen (grabbed from the screen: OpenGL content included), under a strip that shows the
    window's real title text: Xvfb has no window manager to draw a title bar."""
    window = widget.window()  # type: ignore[attr-defined]
    frame = window.frameGeometry()
    shot = window.screen().grabWindow(0).copy(frame)
    strip = 28
    page = QPixmap(shot.width(), shot.height() + strip)
    page.fill(QColor(48, 48, 56))
    painter = QPainter(page)
    painter.setPen(QColor(235, 235, 235))
    painter.drawText(10, 19, f"Title bar: {window.windowTitle()}")
    painter.drawPixmap(0, strip, shot)
    painter.end()
    path.parent.mkdir(parents=True, exist_ok=True)
    page.save(str(path))
    print(path)  # noqa: T201 - a script's output


def grab_box_then(path: Path, answer: str) -> None:
    """When the next message box is open: screenshot it (with the window behind) and click ``answer``."""
    def act() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or not box.isVisible():
            QTimer.singleShot(50, act)
            return
        settle(400)
        grab(box.parentWidget().window(), path)
        next(b for b in box.buttons() if b.text() == answer).click()

    QTimer.singleShot(0, act)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="revseg-shots-"))
    os.environ[RECOVERY_ENV] = str(work / "recovery")
    app = create_application()
    folders = write_dicom_study(work / "dicom", GRID, non_mr=False)
    native = np.zeros(GRID.shape, np.uint8)
    native[22:40, 26:46, 16:32] = 2
    native[28:34, 32:40, 21:27] = 1
    seg = _dcmqi_seg(work, native, GRID, folders["t1ce"])
    window = build_workstation(store=QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1280, 900)
    window.show()
    case = load_study(work / "dicom")
    window.model.set_case(case, default_window_levels(case))
    settle()
    window.open_segmentation.open(seg)
    wait_for(window.open_segmentation.loaded, 60_000)
    settle()
    grab(window, args.out / "open-segmentation-patient-title.png")

    window.edit_controller.update_settings(radius_mm=4.0, value=4)
    brush = window.edit_controller.set_tool("brush")
    brush.press(window.model.cursor, 2)
    brush.release()
    settle()
    grab_box_then(args.out / "prompt-quit-unsaved.png", "Cancel")
    window.close()
    settle()
    grab_box_then(args.out / "prompt-switch-unsaved.png", "Cancel")
    window.open_case(work / "dicom")
    settle()

    write_recovery(window.model.label, case_id=case.case_id, folder=case.folder, ai_label=native)
    grab_box_then(args.out / "prompt-recovery.png", "Later")
    autosave._ask_open(autosave.pending_recoveries()[0], window)
    window.autosave.discard()
    window.close()
    app.processEvents()


if __name__ == "__main__":
    main()
