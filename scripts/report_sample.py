"""Render docs/report-sample.png: the bundled demo weights' AI result on the demo phantom, as the app reports it.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/report_sample.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtGui import QGuiApplication  # noqa: E402

from engine.case import default_demo_case, load_case_folder  # noqa: E402
from engine.inference.predictor import PredictorConfig  # noqa: E402
from engine.interactive import segment_for_viewer  # noqa: E402
from engine.report import ModelInfo, build_report  # noqa: E402
from engine.segment import load_segmenter  # noqa: E402
from gui.review.report_render import render  # noqa: E402


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv)  # noqa: F841 - fonts need an application
    case = load_case_folder(default_demo_case())
    segmenter = load_segmenter(None, PredictorConfig(device="cpu"))
    result = segment_for_viewer(case, segmenter)
    checkpoint = segmenter.checkpoint
    model = ModelInfo("RevSeg", checkpoint.path.name, checkpoint.sha256, segmenter.demo)
    content = build_report(case, result.label, model=model, edited=False)
    print(render(content, ROOT / "docs" / "report-sample.png"))  # noqa: T201 - a script's output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
