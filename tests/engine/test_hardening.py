"""Issue 15 hardening units: the budget's figures, output-path rules, plain names in prepared.json, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.cli_errors import error_line
from engine.errors import CaseError, OutputExistsError
from engine.io.budget import (
    DEFAULT_MEMORY_LIMIT_GB,
    MEMORY_LIMIT_ENV,
    InputEstimate,
    check_case_budget,
    check_mr_content,
    memory_limit,
    memory_limit_bytes,
)
from engine.io.output_paths import check_output_collisions, check_outputs_clear_of_inputs
from engine.prepare import prepare_case
from engine.prepared import MANIFEST, load_prepared, read_reference_headers
from tests.cli.bad_files import nifti_case

GB = 1024 ** 3


def brats(name: str = "t1ce") -> InputEstimate:
    return InputEstimate(name, (240, 240, 155), (1.0, 1.0, 1.0), 2)


def test_memory_limit_default_environment_and_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    assert memory_limit_bytes() == int(DEFAULT_MEMORY_LIMIT_GB * GB)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "2")
    assert memory_limit_bytes() == 2 * GB
    with memory_limit(0.5):
        assert memory_limit_bytes() == GB // 2
    assert memory_limit_bytes(3) == 3 * GB


def test_a_brats_case_fits_the_default_budget_and_a_tight_limit_names_the_figure() -> None:
    estimates = {role: brats(role) for role in ("t1", "t1ce", "t2", "flair")}
    peak = check_case_budget(estimates)
    assert 0.3 * GB < peak < 2 * GB  # 4 x 8.9 M voxels + a 240 x 240 x 155 working grid
    with pytest.raises(CaseError, match=r"needs about \d+\.\d GB .* above the memory limit of 0\.2 GB"):
        check_case_budget(estimates, 0.2)


def test_label_like_content_is_refused_but_an_mr_image_is_not() -> None:
    rng = np.random.default_rng(0)
    check_mr_content(rng.normal(100, 20, (20, 20, 20)).round(), "mr", "t1ce")  # hundreds of grey levels
    with pytest.raises(CaseError, match="binary"):
        check_mr_content((rng.random((20, 20, 20)) > 0.5).astype(np.float32), "mask", "t1ce")
    with pytest.raises(CaseError, match="label map"):
        check_mr_content(rng.choice([0, 1, 2, 4], (20, 20, 20)).astype(np.float32), "seg", "flair")


def test_output_paths_collide_or_overwrite_inputs(tmp_path: Path) -> None:
    out = tmp_path / "d" / "seg.nii.gz"
    with pytest.raises(OutputExistsError, match="same path"):
        check_output_collisions({"nifti": out, "json": tmp_path / "d" / "seg.json",
                                 "dicom-seg": tmp_path / "d" / ".." / "d" / "seg.json"})
    check_output_collisions({"nifti": out, "json": tmp_path / "d" / "seg.json", "dicom-seg": tmp_path / "d" / "s.dcm",
                             "t1ce-dicom": tmp_path / "d" / "s_t1ce_dicom"})
    with pytest.raises(OutputExistsError, match="would overwrite the input"):
        check_outputs_clear_of_inputs({"out": tmp_path}, [tmp_path / "case" / "a.nii.gz"])
    check_outputs_clear_of_inputs({"nifti": tmp_path / "case" / "seg.nii.gz"}, [tmp_path / "case"])


@pytest.fixture(scope="module")
def prepared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("prepared")
    prepare_case(nifti_case(base / "case"), base / "prepared")
    return base / "prepared"


@pytest.mark.parametrize("case_id", ["../../evil", "/etc/passwd", ".hidden", "", "a/b", 7])
def test_load_prepared_refuses_a_case_id_that_is_not_a_plain_name(prepared_folder: Path, tmp_path: Path,
                                                                   case_id: object) -> None:
    folder = tmp_path / "copy"
    folder.mkdir()
    for path in prepared_folder.iterdir():
        if path.is_file():
            (folder / path.name).write_bytes(path.read_bytes())
    manifest = json.loads((folder / MANIFEST).read_text())
    assert load_prepared(folder).case_id == manifest["case_id"]
    manifest["case_id"] = case_id
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CaseError, match="not a plain name"):
        load_prepared(folder)


@pytest.mark.parametrize("name", ["relative/IM1", "/data/../../etc/IM1"])
def test_recorded_slice_files_must_be_absolute_without_parent_steps(name: str) -> None:
    with pytest.raises(CaseError, match="not an absolute path"):
        read_reference_headers({"inputs": {"t1ce": {"kind": "dicom", "slice_files": [name]}}})


@pytest.mark.parametrize(("error", "fragment"), [
    (MemoryError(), "not enough memory"),
    (MemoryError("Unable to allocate 4.16 GiB"), "Unable to allocate 4.16 GiB"),
    (RuntimeError("Exception thrown in SimpleITK ImportAsFloat: /src/itkImage.hxx:42:\n"
                  "ITK ERROR: ImportImageContainer(0x1): Failed to allocate memory for image."), "ITK failed"),
    (RuntimeError("Error(s) in loading state_dict for Net:\n\tsize mismatch for stem.weight"), "torch failed"),
    (KeyError(), "unexpected KeyError"),
    (ValueError("Weights only load failed ... weights_only=False ..."), "pickled Python objects"),
])
def test_error_line_is_one_non_empty_sentence(error: BaseException, fragment: str) -> None:
    line = error_line(error)
    assert fragment in line and "\n" not in line and "weights_only=False" not in line


@pytest.mark.parametrize("verbose", [0, 1])
def test_library_warnings_reach_stderr_only_with_verbose(verbose: int, capsys: pytest.CaptureFixture[str]) -> None:
    import logging
    import sys
    import warnings

    from engine.cli_errors import route_warnings

    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)  # what logging.basicConfig installs for the CLI
    root.addHandler(handler)
    try:
        route_warnings(verbose)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("overflow encountered in multiply", RuntimeWarning, stacklevel=1)
        logging.getLogger("pydicom.pixels").error("libjpeg error code -1038")
        logging.getLogger("engine.prepare").warning("our own warning")
        err = capsys.readouterr().err
    finally:
        root.removeHandler(handler)
        logging.captureWarnings(False)
    assert "our own warning" in err
    assert ("overflow encountered" in err) == bool(verbose) and ("libjpeg" in err) == bool(verbose)
