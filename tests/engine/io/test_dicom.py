"""DICOM input: recursive scan, grouping by series, modality guessing, geometry of the read volume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from engine.errors import AmbiguousInputError, DicomInputError
from engine.io import plan_inputs, read_dicom_series, scan_dicom_folder
from engine.io.dicom_scan import guess_series_role
from tests.engine.synthetic_cases import LPS_AXES, OBLIQUE_AXES, grid_from, head, write_dicom_study

GRID = grid_from((24, 20, 8), (0.9, 0.9, 5.5), LPS_AXES)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("study")
    folders = write_dicom_study(root / "nested" / "deeper", GRID)
    (root / "README.txt").write_text("not DICOM")
    return root, folders


def test_scan_finds_every_series_recursively_and_skips_other_files(study) -> None:
    root, folders = study
    series = scan_dicom_folder(root)
    assert len(series) == 5
    assert {s.modality for s in series} == {"MR", "CT"}
    assert all(len(s.files) == GRID.shape[2] for s in series)
    by_role = {s.guess.role: s for s in series if s.guess.role}
    assert set(by_role) == {"t1", "t1ce", "t2", "flair"}
    assert by_role["t1ce"].description == "AX T1 POST GD"
    assert all(by_role[r].guess.confidence >= 0.8 for r in by_role)


def test_read_series_gets_geometry_from_positions_not_file_order(study) -> None:
    _, folders = study
    [series] = [s for s in scan_dicom_folder(folders["t1ce"])]
    image = read_dicom_series(series, "t1ce")
    assert image.grid.shape == GRID.shape
    assert np.allclose(image.grid.affine, GRID.affine, atol=1e-4)
    assert np.array_equal(image.data, np.round(head(GRID, "t1ce")))
    assert [int(ds.InstanceNumber) for ds in image.dicom_headers] == list(range(1, GRID.shape[2] + 1))
    assert "PixelData" not in image.dicom_headers[0]


def test_oblique_series_geometry(tmp_path: Path) -> None:
    grid = grid_from((16, 12, 6), (1.0, 1.2, 3.0), OBLIQUE_AXES)
    folders = write_dicom_study(tmp_path, grid, series={"t1ce": ("T1 POST", {})}, non_mr=False)
    image = read_dicom_series(scan_dicom_folder(folders["t1ce"])[0], "t1ce")
    # The reader orders slices along the normal (row x column); the volume occupies the same world points.
    corners = image.grid.fov_corners()
    assert np.allclose(np.sort(corners, axis=0), np.sort(grid.fov_corners(), axis=0), atol=1e-4)


def test_plan_picks_one_series_per_modality(study) -> None:
    root, folders = study
    plan = plan_inputs(root)
    assert {r: c.series.description for r, c in plan.choices.items()} == {
        "t1": "AX T1 SE", "t1ce": "AX T1 POST GD", "t2": "AX T2 TSE", "flair": "AX FLAIR"}


def test_folder_without_mr_series(tmp_path: Path) -> None:
    folders = write_dicom_study(tmp_path / "ct", GRID, series={}, non_mr=True)
    with pytest.raises(DicomInputError, match="no MR series .*CT HEAD"):
        plan_inputs(folders["ct"].parent)


def test_folder_without_any_dicom(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DicomInputError, match="no DICOM files"):
        plan_inputs(tmp_path)


def test_two_flair_series_without_a_choice(tmp_path: Path) -> None:
    from tests.engine.synthetic_cases import DICOM_SERIES

    series = dict(DICOM_SERIES) | {"flair2": ("COR FLAIR", DICOM_SERIES["flair"][1])}
    write_dicom_study(tmp_path, GRID, series=series, non_mr=False)
    with pytest.raises(AmbiguousInputError, match="2 candidate FLAIR series.*AX FLAIR.*COR FLAIR.*--flair"):
        plan_inputs(tmp_path)
    # The user's choice settles it: by series number, UID or description.
    numbers = {s.description: s.series_number for s in scan_dicom_folder(tmp_path)}
    plan = plan_inputs(tmp_path, {"flair": str(numbers["COR FLAIR"])})
    assert plan.choices["flair"].series.description == "COR FLAIR"
    assert plan_inputs(tmp_path, {"flair": "ax flair"}).choices["flair"].series.description == "AX FLAIR"
    relaxed = plan_inputs(tmp_path, strict=False)
    assert "flair" not in relaxed.choices and len(relaxed.candidates["flair"]) == 2


def test_missing_modality_in_dicom_folder_is_named(tmp_path: Path) -> None:
    from tests.engine.synthetic_cases import DICOM_SERIES

    write_dicom_study(tmp_path, GRID, series={k: v for k, v in DICOM_SERIES.items() if k != "t2"}, non_mr=False)
    with pytest.raises(ValueError, match="missing modality t2"):
        plan_inputs(tmp_path)


def test_series_with_two_volumes_is_refused(tmp_path: Path) -> None:
    folders = write_dicom_study(tmp_path / "a", GRID, series={"t1ce": ("T1 POST GD", {})}, non_mr=False)
    for path in sorted(folders["t1ce"].iterdir()):  # a second echo at the same positions, same series
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(path.with_name(path.name + "_echo2"))
    with pytest.raises(DicomInputError, match="several volumes"):
        read_dicom_series(scan_dicom_folder(folders["t1ce"])[0], "t1ce")


@pytest.mark.parametrize(
    ("tags", "role"),
    [({"SeriesDescription": "Ax T1 MPRAGE +C"}, "t1ce"), ({"SeriesDescription": "t1_mprage_sag"}, "t1"),
     ({"SeriesDescription": "3D T1", "ContrastBolusAgent": "Gadavist"}, "t1ce"),
     ({"SeriesDescription": "T2 FLAIR AX"}, "flair"), ({"SeriesDescription": "ax t2 tse"}, "t2"),
     ({"SeriesDescription": "DWI b1000"}, None), ({"SeriesDescription": "Localizer"}, None),
     ({"SeriesDescription": "", "RepetitionTime": "9000", "EchoTime": "110", "InversionTime": "2500"}, "flair"),
     ({"SeriesDescription": "", "RepetitionTime": "500", "EchoTime": "10"}, "t1"),
     ({"SeriesDescription": "", "RepetitionTime": "4500", "EchoTime": "95"}, "t2")],
)
def test_role_guesses(tags: dict[str, str], role: str | None) -> None:
    header = pydicom.Dataset()
    header.Modality = "MR"
    for keyword, value in tags.items():
        setattr(header, keyword, value)
    guess = guess_series_role(header)
    assert guess.role == role, guess
    if not tags["SeriesDescription"]:
        assert guess.confidence <= 0.5  # timing alone is weak evidence: the GUI asks to confirm


def test_missing_slice_is_refused(tmp_path: Path) -> None:
    folders = write_dicom_study(tmp_path, GRID, series={"t1ce": ("T1 POST GD", {})}, non_mr=False)
    files = sorted(folders["t1ce"].iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    files[3].unlink()
    with pytest.raises(DicomInputError, match="uneven slice spacing .* missing slices"):
        read_dicom_series(scan_dicom_folder(folders["t1ce"])[0], "t1ce")
