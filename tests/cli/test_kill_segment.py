"""`kill -9` during `segment` never leaves patient data behind once the next run has run (issue 15).

A SIGKILL cannot be caught, so a killed run may leave its private staging folder (.revseg-staging-<pid>-...)
beside the output; the next run that stages into that folder removes every staging folder whose process is gone.
"""

from __future__ import annotations

import random
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.staging import STAGING_PREFIX, make_staging, remove_stale_staging
from tests.cli.bad_files import nifti_case
from tests.engine.inference.helpers import tiny_checkpoint

ROOT = Path(__file__).resolve().parents[2]
KILLS = 10


def staging_folders(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(STAGING_PREFIX)] if folder.is_dir() else []


def wait_for_staging(folder: Path, process: subprocess.Popen) -> None:
    """Return once ``process`` has a staging folder in ``folder`` (or has ended)."""
    while process.poll() is None and not any(str(process.pid) in p.name for p in staging_folders(folder)):
        time.sleep(0.005)


@pytest.mark.slow
def test_ten_kills_during_segment_leave_nothing_after_the_next_run(tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "tiny.safetensors")
    case, out = nifti_case(tmp_path / "case"), tmp_path / "out" / "seg.nii.gz"
    command = [sys.executable, str(ROOT / "main.py"), "segment", str(case), "-o", str(out), "--weights",
               str(weights), "--device", "cpu", "--tile", "32", "--force"]
    start = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    full_run = time.monotonic() - start
    rng, seen_leftovers = random.Random(15), 0
    for kill in range(KILLS):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        if kill % 2:  # at a random moment of the run
            time.sleep(rng.uniform(0.1, 1.0) * full_run)
        else:  # while it stages patient data (a random moment alone missed that window on a loaded machine)
            wait_for_staging(out.parent, process)
            time.sleep(rng.uniform(0.0, 0.1))
        process.kill()  # SIGKILL: no cleanup code runs
        process.wait()
        seen_leftovers = max(seen_leftovers, len(staging_folders(out.parent)))
    assert seen_leftovers >= 1  # the kills did hit runs while they staged patient volumes
    for folder in staging_folders(out.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # private while it exists
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    assert staging_folders(out.parent) == []
    assert sorted(p.name for p in out.parent.iterdir()) == ["seg.json", "seg.nii.gz"]
    assert sorted(p.name for p in case.iterdir()) == sorted(f"P7_{m}.nii.gz" for m in ("t1", "t1ce", "t2", "flair"))
    print(f"full run {full_run:.1f} s; at most {seen_leftovers} staging folder(s) left by the kills")  # noqa: T201


def test_stale_staging_of_a_dead_process_is_removed_and_a_live_one_kept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"{STAGING_PREFIX}{dead.pid}-seg.nii.gz.abc"
    (stale / "prepared").mkdir(parents=True)
    (stale / "prepared" / "P7_t1ce.nii.gz").write_bytes(b"patient voxels")
    unrelated = tmp_path / ".seg.nii.gz.keep"
    unrelated.mkdir()
    mine = make_staging(tmp_path, "seg.nii.gz")
    assert not stale.exists() and unrelated.exists() and mine.exists()
    assert stat.S_IMODE(mine.stat().st_mode) == 0o700 and mine.name.startswith(STAGING_PREFIX)
    assert remove_stale_staging(tmp_path) == [] and mine.exists()  # this process is alive
