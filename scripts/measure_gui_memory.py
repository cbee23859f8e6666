"""Measure the GUI's resident memory with one case loaded and every view drawn.

Opens the main window on a case (default: the bundled 240 x 240 x 155 demo case), adds a segmentation with
a float32 uncertainty map (as a model run would), renders the 2 x 2 layout with the 3D tumour surfaces and
the modality grid, then prints one JSON line with the process's resident memory (VmRSS, MiB) and its peak
(VmHWM, MiB) read from /proc/self/status. Run headless:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/measure_gui_memory.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402

from engine.case import default_demo_case  # noqa: E402
from gui.shell.app import create_application  # noqa: E402
from gui.shell.main_window import MainWindow  # noqa: E402


def memory_mib() -> dict[str, float]:
    """VmRSS and VmHWM of this process in MiB (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # kB -> MiB
    return fields


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, help="case folder (default: the demo case)")
    args = parser.parse_args(argv)
    app = create_application()
    window = MainWindow()
    window.resize(1280, 900)
    window.show()
    result: dict[str, object] = {"before_case_mib": memory_mib()["VmRSS"]}

    def loaded(_case_id: str) -> None:
        model = window.model
        label = model.label if model.label is not None else np.zeros(model.shape, np.uint8)
        uncertainty = np.zeros(model.shape, np.float32)
        uncertainty[label > 0] = 0.3
        model.set_segmentation(label.copy(), uncertainty)
        model.set_overlay_style(uncertainty_visible=True)
        window.volume_view.update_surfaces()
        window.set_grid_mode(True)
        app.processEvents()
        window.set_grid_mode(False)
        app.processEvents()
        memory = memory_mib()
        result.update(case=model.case.case_id, shape=list(model.shape), rss_mib=round(memory["VmRSS"], 1),
                      peak_mib=round(memory["VmHWM"], 1), surfaces=sorted(window.volume_view.surfaces.actors),
                      window_lightness=window.palette().window().color().lightness())
        window.close()

    window.case_loaded.connect(lambda case_id: QTimer.singleShot(200, lambda: loaded(case_id)))
    window.load_failed.connect(lambda message: (result.update(error=message), window.close()))
    QTimer.singleShot(120_000, window.close)
    window.open_case(args.case or default_demo_case())
    app.exec()
    print(json.dumps(result))
    return 0 if "rss_mib" in result else 1


if __name__ == "__main__":
    sys.exit(main())
