"""Recovery files: written atomically, found again, survive a killed writer, removed on discard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from engine import recovery

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def recovery_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "recovery"
    monkeypatch.setenv(recovery.RECOVERY_ENV, str(folder))
    return folder


def _label() -> np.ndarray:
    label = np.zeros((20, 18, 10), np.uint8)
    label[4:9, 5:12, 2:7] = 2
    label[6, 7, 4] = 4
    return label


def test_round_trip_and_discard(recovery_folder, tmp_path):
    label, ai = _label(), np.zeros((20, 18, 10), np.uint8)
    case_folder = tmp_path / "data" / "BraTS 001"
    path = recovery.write_recovery(label, case_id="BraTS 001/x", folder=case_folder,
                                   ai_label_sha256=recovery.label_sha256(ai), ai_label=ai)
    assert path.parent == recovery_folder and path.suffix == ".npz" and " " not in path.name
    assert not list(recovery_folder.glob(".*tmp*"))  # no temporary left behind
    found = recovery.find_recovery("BraTS 001/x", case_folder)
    assert found is not None and np.array_equal(found.label, label) and found.label.dtype == np.uint8
    assert found.case_id == "BraTS 001/x" and found.source == "edited"
    assert found.folder == str(case_folder.resolve()) and found.ai_label_sha256 == recovery.label_sha256(ai)
    assert np.array_equal(found.ai_label, ai) and found.ai_label_sha256 != recovery.label_sha256(label)
    assert recovery.find_recovery("BraTS 001/x", tmp_path / "elsewhere") is None  # same id, other folder
    assert [r.path for r in recovery.list_recoveries()] == [path]
    assert recovery.discard_recovery("BraTS 001/x", case_folder)
    assert recovery.find_recovery("BraTS 001/x", case_folder) is None
    assert not recovery.discard_recovery("BraTS 001/x", case_folder)


def test_default_folder_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv(recovery.RECOVERY_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert recovery.recovery_dir() == tmp_path / "xdg" / "revseg" / "recovery"


def test_damaged_file_is_ignored_with_a_warning(recovery_folder, tmp_path, caplog):
    path = recovery.recovery_path("C1", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip")
    assert recovery.find_recovery("C1", tmp_path) is None
    assert "cannot read the recovery file" in caplog.text
    with pytest.raises(ValueError, match="cannot read"):
        recovery.load_recovery(path)


def test_file_of_a_process_killed_while_autosaving_restores_the_last_complete_save(recovery_folder, tmp_path):
    """A writer saving in a tight loop is SIGKILLed; the file holds one complete save, never a torn one."""
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(REPO)!r})
        from engine.recovery import write_recovery
        label = np.zeros((20, 18, 10), np.uint8)
        for step in range(1, 62500):  # the step in base 250 (uint8): low digit in the first half, high in the second
            label[:10], label[10:] = step % 250, step // 250
            write_recovery(label, case_id="C1", folder={str(tmp_path)!r})
            if step == 3:
                print("saved", flush=True)
    """)
    env = dict(os.environ, **{recovery.RECOVERY_ENV: str(recovery_folder)})
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout.readline().strip() == "saved"
        time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    found = recovery.find_recovery("C1", tmp_path)
    assert found is not None
    low, high = found.label[:10], found.label[10:]
    assert np.unique(low).size == 1 and np.unique(high).size == 1 and found.ai_label is None  # one save, whole
    assert int(high.flat[0]) * 250 + int(low.flat[0]) >= 3  # a save after the third (a fast writer passes 250)
    assert [r.case_id for r in recovery.list_recoveries()] == ["C1"]  # a torn temporary file is not listed
