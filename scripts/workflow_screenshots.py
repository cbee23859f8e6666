"""Screenshots of the clinician workflow with the bundled demo weights: the study dialog and the AI result.

Opens the full workstation, shows the study dialog for ``--case`` (its guessed contrasts), loads the case,
runs Segment on the CPU with the bundled demo weights, and grabs the window from the screen (QWidget.grab()
cannot see what OpenGL drew). Run headless:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/workflow_screenshots.py \
        --case ../shared/data/real/TCGA-DU-7294

Only the AI result of another case, e.g. for the README:

    ... scripts/workflow_screenshots.py --case ../shared/data/real/AURORA-example --no-dialog \
        --size 1280x900 --out docs/screenshots/ai-aurora-metastasis.png

The crosshair goes to the axial slice with the largest cross-section of the tumour core (NCR + ET; of the whole
tumour when there is no core) of the largest lesion, at the centre of that cross-section, so all three slice
views cut through the tumour.
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
from scipy import ndimage  # noqa: E402

from gui.review.settings_dialog import SegmentationSettings  # noqa: E402
from gui.shell.app import create_application  # noqa: E402
from gui.shell.workstation import build_workstation  # noqa: E402
from gui.study.study_dialog import StudyDialog  # noqa: E402
from gui.study.study_scan import scan_study  # noqa: E402

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


def grab(widget: object, path: Path) -> None:
    geometry = widget.frameGeometry()  # type: ignore[attr-defined]
    pixmap = widget.screen().grabWindow(0, geometry.x(), geometry.y(), geometry.width(), geometry.height())  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    pixmap.save(str(path))
    print(path)  # noqa: T201 - a script's output


def tumour_cursor(label: np.ndarray) -> tuple[int, int, int] | None:
    """The voxel (RAS+ order, axis 2 superior) at the centre of the largest axial cross-section of the tumour.

    Only the largest 26-connected lesion counts (specks elsewhere do not pull the crosshair); within it the
    core (NCR + ET, labels 1 and 4) is preferred to the whole tumour, so the slice shows the labelled necrosis
    and enhancing tumour as well as the oedema around them.
    """
    lesions, count = ndimage.label(label > 0, structure=np.ones((3, 3, 3), bool))
    if count == 0:
        return None
    sizes = np.bincount(lesions.ravel())[1:]
    lesion = lesions == (int(np.argmax(sizes)) + 1)
    core = lesion & np.isin(label, (1, 4))
    part = core if core.any() else lesion
    k = int(np.argmax(part.sum(axis=(0, 1))))
    i, j = np.argwhere(part[:, :, k]).mean(axis=0).round().astype(int)
    return int(i), int(j), k


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=OUT / "ai-segmentation.png", help="the AI result's picture")
    parser.add_argument("--dialog-out", type=Path, default=OUT / "study-dialog.png", help="the study dialog's picture")
    parser.add_argument("--no-dialog", action="store_true", help="skip the study dialog's picture")
    parser.add_argument("--size", default="1280x960", help="window size WIDTHxHEIGHT (default 1280x960)")
    args = parser.parse_args(argv)
    width, height = (int(n) for n in args.size.lower().split("x"))
    logging.basicConfig(level=logging.INFO)
    app = create_application()
    with tempfile.TemporaryDirectory() as scratch:
        store = QSettings(str(Path(scratch) / "settings.ini"), QSettings.Format.IniFormat)
        window = build_workstation(store=store)
        window.resize(width, height)
        window.move(0, 0)
        window.show()
        if not args.no_dialog:
            dialog = StudyDialog(scan_study([args.case]), window)
            dialog.show()
            settle()
            grab(dialog, args.dialog_out)
            dialog.accept()
        window.open_case(args.case)
        wait_for(window.case_loaded, 60_000)
        window.segment_settings.apply(SegmentationSettings(None, "cpu"))  # the bundled demo weights
        outcome: dict[str, object] = {}
        window.segmentation.finished.connect(lambda run: outcome.setdefault("run", run))
        window.segmentation.failed.connect(lambda message: outcome.setdefault("error", message))
        loop = QEventLoop()
        window.segmentation.finished.connect(loop.quit)
        window.segmentation.failed.connect(loop.quit)
        QTimer.singleShot(600_000, loop.quit)
        window.segmentation.segment()
        loop.exec()
        if "run" not in outcome:
            print(f"segmentation did not finish: {outcome.get('error', 'timed out')}", file=sys.stderr)  # noqa: T201
            window.close()
            app.quit()
            return 1
        label = window.model.label
        cursor = tumour_cursor(label) if label is not None else None
        if cursor is not None:
            window.model.set_cursor(cursor)
        settle(1500)
        grab(window, args.out)
        window.close()
    app.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
