"""Save a screenshot of RevSeg's main window showing a case (default: the bundled demo case).

Run it on a display, or headless:
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/screenshot.py

The picture is taken from the screen (QScreen.grabWindow) because QWidget.grab() cannot see what OpenGL
drew into the VTK views.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402

from engine.case import default_demo_case  # noqa: E402
from gui.shell.app import create_application  # noqa: E402
from gui.shell.main_window import MainWindow  # noqa: E402

log = logging.getLogger("screenshot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, help="case folder (default: the demo case)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots" / "main-window.png")
    parser.add_argument("--size", default="1280x900", help="window size WIDTHxHEIGHT (default 1280x900)")
    parser.add_argument("--cursor", help="crosshair voxel I,J,K (default: centre of the tumour, else of the case)")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    width, height = (int(n) for n in args.size.lower().split("x"))
    app = create_application()
    window = MainWindow()
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    result = {"code": 1}

    def place_cursor() -> None:
        model = window.model
        if args.cursor:
            model.set_cursor(tuple(int(v) for v in args.cursor.split(",")))
        elif model.label is not None and model.label.any():
            model.set_cursor(tuple(np.argwhere(model.label > 0).mean(axis=0).round().astype(int)))
        QTimer.singleShot(500, grab)  # lets Qt repaint the status bar; the VTK views render at once

    def grab() -> None:
        for view in window.slice_views:
            view.render()
        window.volume_view.render()
        geometry = window.frameGeometry()
        pixmap = window.screen().grabWindow(0, geometry.x(), geometry.y(), geometry.width(), geometry.height())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if pixmap.save(str(args.out)):
            log.info("saved %s (%d x %d)", args.out, pixmap.width(), pixmap.height())
            result["code"] = 0
        window.close()

    def failed(message: str) -> None:
        log.error("could not open the case: %s", message)
        window.close()

    # Give the window manager (if any) and the first volume rendering a moment before grabbing.
    window.case_loaded.connect(lambda _case_id: QTimer.singleShot(500, place_cursor))
    window.load_failed.connect(failed)
    QTimer.singleShot(int(args.timeout * 1000), window.close)
    window.open_case(args.case or default_demo_case())
    app.exec()
    return result["code"]


if __name__ == "__main__":
    sys.exit(main())
