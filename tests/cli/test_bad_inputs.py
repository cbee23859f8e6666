"""The bad-input corpus through the CLI entry point (issue 15).

Every malformed or hostile input must end with exit code 2 and exactly one ``revseg: error:`` line naming the
problem, no traceback, and no change on disk: no output, no staging folder, inputs untouched. A sample of the
hostile huge-header inputs runs in a subprocess that reports its peak RSS, which must stay under 1 GB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import main
from engine.staging import STAGING_PREFIX
from tests.cli.bad_files import nifti_case
from tests.cli.corpus import CORPUS, Workspace
from tests.engine.inference.helpers import tiny_checkpoint
from tests.engine.synthetic_cases import LPS_AXES, grid_from, write_dicom_study

ROOT = Path(__file__).resolve().parents[2]
ERROR_PREFIX = "revseg: error: "


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("templates")
    weights = tiny_checkpoint(base / "tiny.safetensors")
    study = base / "study"
    write_dicom_study(study, grid_from((40, 44, 36), (1, 1, 1), LPS_AXES))
    return weights, nifti_case(base / "case"), study


@pytest.fixture
def workspace(tmp_path: Path, templates: tuple[Path, Path, Path]) -> Workspace:
    weights, case, study = templates
    return Workspace(tmp_path / "run", weights, case, study)


def disk_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder`` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
            for p in folder.rglob("*")}


def assert_one_clear_line(code: int, out: str, err: str, expected: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, f"exit code {code}; stderr: {err!r}"
    assert len(lines) == 1, f"{len(lines)} stderr lines: {err!r}"
    assert lines[0].startswith(ERROR_PREFIX) and len(lines[0]) > len(ERROR_PREFIX) + 15, lines[0]
    assert expected.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in out + err and "weights_only=False" not in err


def test_corpus_size() -> None:
    assert len(CORPUS) >= 60
    assert len({name for name, _, _ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(("build", "expected"), [(b, e) for _, b, e in CORPUS], ids=[n for n, _, _ in CORPUS])
def test_bad_input_is_refused_in_one_line_leaving_nothing(workspace: Workspace, build, expected: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    workspace.tmp.mkdir(parents=True)
    argv = build(workspace)
    before = disk_state(workspace.tmp)
    capsys.readouterr()
    code = main.main(argv)
    captured = capsys.readouterr()
    assert_one_clear_line(code, captured.out, captured.err, expected)
    assert disk_state(workspace.tmp) == before  # no output, no staging, inputs untouched
    assert not any(STAGING_PREFIX in p.name for p in workspace.tmp.rglob("*"))


# Hostile huge headers, plus inputs that make libraries warn (numpy overflow, NaN spacing): in a real process the
# warnings must go to the log, not to stderr.
SUBPROCESS_SAMPLE = ["int16-1000-cubed-gz", "nifti1-32767-cubed", "nifti2-100000-cubed", "four-contrasts-5mm-240-matrix",
                     "dicom-65535-squared", "complex64-t1ce", "float64-near-1e300", "dicom-pixel-spacing-zero",
                     "dicom-corrupt-jpeg"]
# A fresh, small Python launches the CLI and reports the child's own peak RSS (os.wait4): a child forked
# straight from pytest would start with pytest's pages in its high-water mark.
LAUNCHER = ("import os, subprocess, sys; child = subprocess.Popen(sys.argv[1:]); _, status, usage = os.wait4(child.pid, 0); "
            "print('PEAK_RSS_KB', usage.ru_maxrss); sys.exit(os.waitstatus_to_exitcode(status))")


@pytest.mark.parametrize("name", SUBPROCESS_SAMPLE)
def test_hostile_input_in_a_subprocess_stays_under_1_gb(workspace: Workspace, name: str) -> None:
    build, expected = next((b, e) for n, b, e in CORPUS if n == name)
    workspace.tmp.mkdir(parents=True)
    argv = build(workspace)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, str(ROOT / "main.py"), *argv],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert_one_clear_line(result.returncode, "", result.stderr, expected)
    peak_kb = int(result.stdout.split("PEAK_RSS_KB")[1].split()[0])
    assert 0 < peak_kb < 1024 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
