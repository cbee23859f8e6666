"""Screenshots of the review states of the viewer: segmentation overlay, outline + uncertainty, modality grid, 3D.

Opens a case, optionally shows a label map from another file as the segmentation (``--label``, reoriented
like the case) and, with ``--vote-labels``, an uncertainty map: the normalised entropy of the votes of
several label maps (e.g. the reference segmentations of several teams) - a stand-in for the model's own
entropy when no model output is at hand. Pictures are taken from the screen (QScreen.grabWindow), because
QWidget.grab() cannot see what OpenGL drew. Run headless:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/review_screenshots.py \
        --case ../shared/data/real/TCGA-DU-7294 --label ../shared/data/real/TCGA-DU-7294/reference/fusion-mav.nii.gz \
        --vote-labels '../shared/data/real/TCGA-DU-7294/reference/*-20.nii.gz'
"""

from __future__ import annotations

import argparse
import glob
import logging
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402

from engine.case import default_demo_case  # noqa: E402
from engine.labels import to_brats2020  # noqa: E402
from gui.shell.app import create_application  # noqa: E402
from gui.shell.main_window import MainWindow  # noqa: E402

log = logging.getLogger("review_screenshots")
OUT = ROOT / "docs" / "screenshots"


def read_label(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """A label map file in the case's RAS+ voxel order, BraTS 2020 labels."""
    image = nib.as_closest_canonical(nib.load(str(path)))
    data = np.asarray(image.dataobj)
    if data.shape != shape:
        raise ValueError(f"{path} has shape {data.shape}, the case {shape}")
    return to_brats2020(np.round(data).astype(np.int16))


def vote_entropy(labels: list[np.ndarray]) -> np.ndarray:
    """Voxel-wise entropy of the label votes, divided by log(4): 0 = all agree, 1 = four-way split."""
    counts = np.stack([sum((label == value) for label in labels) for value in (0, 1, 2, 4)]).astype(np.float32)
    p = counts / len(labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=0)
    return np.maximum(entropy / np.log(4), 0.0).astype(np.float32)  # no -0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, help="case folder (default: the demo case)")
    parser.add_argument("--label", type=Path, help="label map to show as the segmentation")
    parser.add_argument("--vote-labels", help="glob of label maps whose vote entropy is shown as uncertainty")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--azimuth", type=float, default=-70.0, help="turn the 3D camera by this many degrees")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_application()
    window = MainWindow()
    window.resize(1280, 900)
    window.move(0, 0)
    window.show()
    model = window.model
    code = {"value": 1}

    def grab(name: str) -> None:
        for view in window.all_views:
            if view.isVisible():
                view.render()
        geometry = window.frameGeometry()
        pixmap = window.screen().grabWindow(0, geometry.x(), geometry.y(), geometry.width(), geometry.height())
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixmap.save(str(path))
        log.info("saved %s (%d x %d)", path, pixmap.width(), pixmap.height())

    def prepare() -> None:
        if args.label is not None:
            uncertainty = None
            if args.vote_labels:
                votes = [read_label(Path(p), model.shape) for p in sorted(glob.glob(args.vote_labels))]
                uncertainty = vote_entropy(votes)
                log.info("uncertainty from %d label maps", len(votes))
            model.set_segmentation(read_label(args.label, model.shape), uncertainty, source="file")
        tumour = np.argwhere(model.label > 0) if model.label is not None else np.empty((0, 3))
        if tumour.size:
            model.set_cursor(tuple(tumour.mean(axis=0).round().astype(int)))
        window.volume_view.update_surfaces()

    def turn_3d() -> None:
        """Look from the front-right (--azimuth), a bit closer."""
        camera = window.volume_view.renderer.GetActiveCamera()
        camera.Azimuth(args.azimuth)
        camera.Zoom(1.3)
        window.volume_view.renderer.ResetCameraClippingRange()

    steps: list[tuple[Callable[[], None], str | None]] = [
        (prepare, None),
        (lambda: None, "review-overlay.png"),
        (lambda: (model.set_overlay_style(outline=True, uncertainty_visible=model.uncertainty is not None)),
         "review-outline-uncertainty.png"),
        (lambda: (model.set_overlay_style(outline=False, uncertainty_visible=False), window.set_grid_mode(True)),
         "modality-grid.png"),
        (lambda: (window.set_grid_mode(False), window.toggle_maximized(window.volume_view), turn_3d()), "view-3d.png"),
    ]

    def run(index: int = 0) -> None:
        if index == len(steps):
            code["value"] = 0
            window.close()
            return
        action, name = steps[index]
        action()
        if name is not None:
            QTimer.singleShot(700, lambda: (grab(name), run(index + 1)))  # lets Qt lay out and repaint
        else:
            QTimer.singleShot(300, lambda: run(index + 1))

    window.case_loaded.connect(lambda _case_id: QTimer.singleShot(500, run))
    window.load_failed.connect(lambda message: (log.error("%s", message), window.close()))
    QTimer.singleShot(180_000, window.close)
    window.open_case(args.case or default_demo_case())
    app.exec()
    return code["value"]


if __name__ == "__main__":
    sys.exit(main())
