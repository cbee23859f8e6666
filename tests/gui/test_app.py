"""run_gui end to end in a fresh process: it opens the case (the demo case by default), shows it, and the
process exits cleanly when the window closes (render windows finalised: no X errors, no crash)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.case import default_demo_case

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]
# Starts run_gui, closes the window once the case is on screen, reports what it saw.
DRIVER = """
import sys
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from gui.shell.app import create_application, run_gui
from gui.shell.main_window import MainWindow

app = create_application()

def attach():
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
    def loaded(case_id):
        print("loaded", case_id, window.isVisible(), window.model.active_modality, flush=True)
        QTimer.singleShot(300, window.close)
    window.case_loaded.connect(loaded)
    window.load_failed.connect(lambda message: (print("failed", message, flush=True), window.close()))

QTimer.singleShot(0, attach)
QTimer.singleShot(60_000, app.quit)
code = run_gui(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
print("exit", code, flush=True)
sys.exit(code)
"""
X_TROUBLE = ("X Error", "BadWindow", "BadDrawable", "GLXBadDrawable", "Segmentation fault", "Traceback")


def run_driver(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def assert_clean_exit(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "exit 0" in result.stdout
    assert not [word for word in X_TROUBLE if word in output], output


def test_run_gui_opens_the_given_case_and_exits_cleanly(synthetic_case: Path) -> None:
    result = run_driver(str(synthetic_case))
    assert "loaded SYN-001 True t1ce" in result.stdout, result.stdout + result.stderr
    assert_clean_exit(result)


def test_run_gui_opens_the_demo_case_by_default() -> None:
    result = run_driver()
    assert f"loaded {default_demo_case().name} True" in result.stdout, result.stdout + result.stderr
    assert_clean_exit(result)
