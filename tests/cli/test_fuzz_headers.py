"""Hypothesis-driven NIfTI header and affine fuzzing through the CLI (issue 15).

Every fuzzed T1ce (hostile dims, dtypes, voxel sizes, NaN / infinite / sheared / singular affines) must be refused
with exit code 2 and one ``revseg: error:`` line, without a traceback and without leaving anything behind.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import main
from tests.cli.bad_files import brain, nifti_case, role_file
from tests.cli.test_bad_inputs import assert_one_clear_line, disk_state

ROLES = ("t1", "t1ce", "t2", "flair")
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

dims = st.integers(min_value=0, max_value=200_000)
zoom = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                 st.sampled_from([0.0, -1.0, 0.05, 1.0, 12.0, 1e4, 1e30]))
dtypes = st.sampled_from(["uint8", "int16", "int32", "float32", "float64", "complex64", "complex128", "RGB"])


@pytest.fixture(scope="module")
def case_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nifti_case(tmp_path_factory.mktemp("fuzz") / "case")


def write_header(path: Path, shape: tuple[int, ...], zooms: tuple[float, ...], dtype: str, affine: np.ndarray,
                 data: bytes = b"") -> None:
    """A NIfTI file from a fuzzed header: fields are set directly, as a hostile writer would."""
    big = max(shape) > 32767
    header = (nib.Nifti2Header if big else nib.Nifti1Header)()
    header.set_data_dtype(np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]) if dtype == "RGB" else dtype)
    header["dim"] = [len(shape), *shape] + [1] * (7 - len(shape))
    header["pixdim"][1:4] = zooms
    header.set_sform(affine, code=1)
    header["vox_offset"] = len(header.binaryblock) + 4
    path.write_bytes(header.binaryblock + b"\0" * 4 + data)


def run_prepare(template: Path, t1ce_writer, capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        case = Path(template)
        t1ce = root / "fuzzed_t1ce.nii"
        t1ce_writer(t1ce)
        args = ["prepare", "--out", str(root / "out" / "prepared")]
        for role in ROLES:
            args += [f"--{role}", str(t1ce if role == "t1ce" else role_file(case, role))]
        before = disk_state(root)
        capsys.readouterr()
        code = main.main(args)
        captured = capsys.readouterr()
        assert_one_clear_line(code, captured.out, captured.err, "")
        assert disk_state(root) == before


@FUZZ
@given(shape=st.lists(dims, min_size=1, max_size=5).map(tuple), zooms=st.tuples(zoom, zoom, zoom), dtype=dtypes)
def test_fuzzed_header_is_refused_in_one_line(case_template: Path, capsys: pytest.CaptureFixture[str],
                                              shape: tuple[int, ...], zooms: tuple[float, ...], dtype: str) -> None:
    affine = np.diag([*zooms, 1.0])
    run_prepare(case_template, lambda path: write_header(path, shape, zooms, dtype, affine), capsys)


def plausible(affine: np.ndarray) -> bool:
    """An affine the budget would accept: finite, orthogonal axes, 0.1-10 mm voxels."""
    linear = affine[:3, :3]
    if not np.isfinite(affine).all():
        return False
    norms = np.linalg.norm(linear, axis=0)
    if not ((norms >= 0.1) & (norms <= 10)).all():
        return False
    unit = linear / norms
    return bool(np.abs(unit.T @ unit - np.eye(3)).max() <= 1e-3)


entries = st.one_of(st.floats(min_value=-1e6, max_value=1e6), st.sampled_from([0.0, 1.0, -1.0, np.nan, np.inf]))


@FUZZ
@given(values=st.lists(entries, min_size=12, max_size=12))
def test_fuzzed_affine_is_refused_in_one_line(case_template: Path, capsys: pytest.CaptureFixture[str],
                                              values: list[float]) -> None:
    affine = np.eye(4)
    affine[:3, :] = np.array(values, dtype=float).reshape(3, 4)
    assume(not plausible(affine))
    volume = brain()
    run_prepare(case_template, lambda path: write_header(path, volume.shape, (1.0, 1.0, 1.0), "float32", affine,
                                                         volume.tobytes("F")), capsys)
