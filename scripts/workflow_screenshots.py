"""Screenshots of the clinician workflow with the bundled demo weights: the study dialog and the AI result.

Opens the full workstation, shows the study dialog for ``--case`` (its guessed contrasts), loads the case,
runs Segment on the CPU with the bundled demo weights, and grabs the window from the screen (QWidget.grab()
cannot see what OpenGL drew). Run headless:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/workflow_screenshots.py \
        --case ../shared/data/real/TCGA-DU-7294
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
from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402

from gui.app import create_application  # noqa: E402
from gui.settings_dialog import SegmentationSettings  # noqa: E402
from gui.study_dialog import StudyDialog  # noqa: E402
from gui.study_scan import scan_study  # noqa: E402
from gui.workstation import build_workstation  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def wait_for(signal: object, timeout_ms: int) -> None:
    """Run the event loop until ``signal`` fires (or the timeout passes)."""
    loop = QEventLoop()
    signal.connect(loop.quit)  # type: ignore[attr-defined]
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def settle(ms: int = 800) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def grab(widget: object, name: str) -> None:
    geometry = widget.frameGeometry()  # type: ignore[attr-defined]
    pixmap = widget.screen().grabWindow(0, geometry.x(), geometry.y(), geometry.width(), geometry.height())  # type: ignore[attr-defined]
    pixmap.save(str(OUT / name))
    print(OUT / name)  # noqa: T201 - a script's output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    app = create_application()
    with tempfile.TemporaryDirectory() as scratch:
        store = QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat)
        window = build_workstation(store=store)
        window.resize(1280, 960)
        window.move(0, 0)
        window.show()
        dialog = StudyDialog(scan_study([args.case]), window)
        dialog.show()
        settle()
        grab(dialog, "study-dialog.png")
        dialog.accept()
        window.open_case(args.case)
        wait_for(window.case_loaded, 60_000)
        window.segment_settings.apply(SegmentationSettings(None, "cpu"))  # the bundled demo weights
        window.segmentation.segment()
        wait_for(window.segmentation.finished, 600_000)
        label = window.model.label
        if label is not None and label.any():  # crosshair on the tumour (the median voxel is robust to specks)
            window.model.set_cursor(np.median(np.argwhere(label > 0), axis=0).astype(int))
        settle(1500)
        grab(window, "ai-segmentation.png")
        window.close()
    app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
