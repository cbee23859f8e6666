"""`main.py prepare` turns every bad input into one line on stderr, exit code 2, and no output folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import main
from tests.engine.synthetic_cases import DICOM_SERIES, LPS_AXES, grid_from, write_dicom_study
from tests.engine.test_prepare import _break, brats_case


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("kind", "message"), [
    ("truncated", "P7_t2.nii.gz is not a readable NIfTI image"),
    ("not_an_image", "P7_t2.nii.gz is not a readable NIfTI image"),
    ("2d", "P7_t2.nii.gz has 2 dimensions"),
    ("4d", "P7_t2.nii.gz has 4 dimensions"),
    ("nan", "NaN or infinite voxels"),
    ("no_overlap", "do not overlap"),
    ("missing", "missing modality t2"),
])
def test_bad_nifti_case_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              kind: str, message: str) -> None:
    folder = brats_case(tmp_path / "in")
    _break(folder, kind)
    code, _, err = run_main(capsys, "prepare", str(folder), "--out", str(tmp_path / "out"))
    assert code == 2
    lines = err.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("revseg: error:") and message in lines[0]
    assert not (tmp_path / "out").exists()


def test_bad_folders_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    write_dicom_study(tmp_path / "ct", grid_from((8, 8, 4), (1, 1, 3), LPS_AXES), series={}, non_mr=True)
    series = dict(DICOM_SERIES) | {"flair2": ("SAG FLAIR 3D", DICOM_SERIES["flair"][1])}
    write_dicom_study(tmp_path / "two_flair", grid_from((8, 8, 4), (1, 1, 3), LPS_AXES), series=series, non_mr=False)
    for folder, message in [("empty", "is empty"), ("ct", "no MR series"), ("two_flair", "2 candidate FLAIR series")]:
        code, _, err = run_main(capsys, "prepare", str(tmp_path / folder), "--out", str(tmp_path / "out"))
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_prepare_succeeds_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = brats_case(tmp_path / "in")
    code, out, _ = run_main(capsys, "prepare", str(folder), "--out", str(tmp_path / "out"))
    assert code == 0 and out.strip() == str(tmp_path / "out")
    assert (tmp_path / "out" / "prepared.json").is_file()
    code, _, err = run_main(capsys, "prepare", str(folder), "--out", str(tmp_path / "out"))
    assert code == 2 and "--force" in err


def test_no_traceback_from_a_real_process(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = subprocess.run([sys.executable, "main.py", "prepare", str(tmp_path / "empty"), "--out", str(tmp_path / "o")],
                            cwd=Path(main.__file__).parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("revseg: error:")
