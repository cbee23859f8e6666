"""The suite's watchdog (tests/conftest.py): a test stuck in C code that holds the GIL, which pytest-timeout
cannot reach, is ended with every thread's stack written to the hang folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

STUCK_TEST = '''
import ctypes


def test_stuck_holding_the_gil():
    # PyDLL keeps the GIL during the call: no Python thread (pytest-timeout's timer) can run meanwhile.
    ctypes.PyDLL(None).sleep(120)
'''


def test_a_test_stuck_with_the_gil_held_is_ended_and_its_stack_written(tmp_path: Path) -> None:
    (tmp_path / "test_stuck.py").write_text(STUCK_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    hang_dir = tmp_path / "hangs"
    env = {**os.environ, "REVSEG_TEST_HARD_TIMEOUT": "2", "REVSEG_TEST_HANG_DIR": str(hang_dir),
           "PYTHONPATH": str(REPO_ROOT)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:timeout",
                          "-p", "tests.conftest", "-c", str(tmp_path / "pytest.ini"), str(tmp_path / "test_stuck.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert run.returncode != 0
    (log,) = hang_dir.glob("revseg-hang-*.txt")
    text = log.read_text()
    assert text.startswith("hung test: test_stuck.py::test_stuck_holding_the_gil")
    assert "Timeout (0:00:02)!" in text
    assert "in test_stuck_holding_the_gil" in text
