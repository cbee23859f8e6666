"""NIfTI export on the native T1ce grid, the JSON sidecar, and atomic, never-silent overwrites."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from engine.errors import ExportError, OutputExistsError
from engine.export import (
    ExportSettings,
    export_paths,
    export_segmentation,
    region_volumes_ml,
    write_label_nifti,
)
from engine.export.atomic import atomic_path, write_bytes_atomic
from engine.geometry import Grid
from engine.prepare import prepare_case
from tests.engine.synthetic_cases import LPS_AXES, grid_from, tumour_labels, write_nifti_case

NATIVE = grid_from((52, 50, 9), (0.9, 0.9, 5.5), LPS_AXES)  # holds the whole brain and tumour


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("nifti_case")
    write_nifti_case(root / "in", {m: NATIVE for m in ("t1", "t1ce", "t2", "flair")})
    return prepare_case(root / "in", root / "prepared")


def test_nifti_export_is_on_the_native_t1ce_grid(prepared, tmp_path: Path) -> None:
    label = tumour_labels(prepared.space.grid)
    result = export_segmentation(prepared, label, tmp_path, ExportSettings(formats=("nifti",)))
    image = nib.load(result.files["nifti"])
    assert image.shape == NATIVE.shape
    assert np.allclose(image.affine, NATIVE.affine, atol=1e-5)
    assert image.get_data_dtype() == np.uint8
    assert set(np.unique(np.asarray(image.dataobj))) == {0, 1, 2, 4}
    assert np.array_equal(np.asarray(image.dataobj), result.label_native)


def test_brats2023_convention_on_request(prepared, tmp_path: Path) -> None:
    label = tumour_labels(prepared.space.grid)
    result = export_segmentation(prepared, label, tmp_path, ExportSettings(formats=("nifti",), convention="brats2023"))
    values = set(np.unique(np.asarray(nib.load(result.files["nifti"]).dataobj)))
    assert values == {0, 1, 2, 3}


def test_sidecar_records_provenance_and_volumes(prepared, tmp_path: Path) -> None:
    label = tumour_labels(prepared.space.grid)
    result = export_segmentation(prepared, label, tmp_path, ExportSettings(formats=("nifti", "json")))
    sidecar = json.loads(result.files["json"].read_text())
    assert sidecar["inputs"]["t1ce"]["kind"] == "nifti"
    assert sidecar["inputs"]["t1ce"]["axcodes"] == "LPS"
    assert sidecar["geometry"]["working"]["shape"] == list(prepared.space.grid.shape)
    assert sidecar["transforms"]["t2"] == {"registered": False, "reason": "same grid as t1ce"}
    assert sidecar["settings"]["label_convention"] == "brats2020"
    assert sidecar["settings"]["segment_algorithm_type"] == "AUTOMATIC"
    assert sidecar["model"]["name"] == "RevSeg"
    assert sidecar["outputs"]["nifti"] == str(result.files["nifti"])
    voxel_ml = 0.9 * 0.9 * 5.5 / 1000
    assert sidecar["volumes_ml"]["WT"] == pytest.approx(np.count_nonzero(result.label_native) * voxel_ml, abs=1e-3)
    assert sidecar["volumes_ml"]["TC"] == pytest.approx(sidecar["volumes_ml"]["label_NCR"] + sidecar["volumes_ml"]["label_ET"], abs=2e-3)
    # The analytic oedema ellipsoid is 4/3 pi 16*12*14 mm^3 = 11.26 mL: the exported WT is close to it.
    assert sidecar["volumes_ml"]["WT"] == pytest.approx(4 / 3 * np.pi * 16 * 12 * 14 / 1000, rel=0.05)


def test_existing_files_are_not_overwritten_without_force(prepared, tmp_path: Path) -> None:
    label = tumour_labels(prepared.space.grid)
    settings = ExportSettings(formats=("nifti", "json"))
    export_segmentation(prepared, label, tmp_path, settings)
    json_path = export_paths(prepared, tmp_path, settings)["json"]
    json_path.write_text("keep me")
    nifti_path = export_paths(prepared, tmp_path, settings)["nifti"]
    before = nifti_path.read_bytes()
    with pytest.raises(OutputExistsError, match=f"{nifti_path.name} already exists; pass --force"):
        export_segmentation(prepared, np.zeros_like(label), tmp_path, settings)
    assert nifti_path.read_bytes() == before and json_path.read_text() == "keep me"
    export_segmentation(prepared, np.zeros_like(label), tmp_path, settings, force=True)
    assert not np.asarray(nib.load(nifti_path).dataobj).any()
    assert json.loads(json_path.read_text())["volumes_ml"]["WT"] == 0


def test_failed_export_leaves_no_file(prepared, tmp_path: Path) -> None:
    bad = tumour_labels(prepared.space.grid)
    bad[0, 0, 0] = 7
    with pytest.raises(ExportError, match="values \\[7\\]"):
        export_segmentation(prepared, bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cancelled_export_removes_what_it_wrote(prepared, tmp_path: Path) -> None:
    from engine.errors import OperationCancelled

    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 1  # let the NIfTI through, stop before the SEG

    with pytest.raises(OperationCancelled):
        export_segmentation(prepared, tumour_labels(prepared.space.grid), tmp_path, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_label_shape_must_match_grid(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not the T1ce grid"):
        write_label_nifti(np.zeros((2, 2, 2), np.uint8), NATIVE, tmp_path / "x.nii.gz")


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("writer crashed")
    assert list(tmp_path.iterdir()) == []
    write_bytes_atomic(target, b"{}")
    assert target.read_bytes() == b"{}" and oct(target.stat().st_mode & 0o777) != "0o600"
    with pytest.raises(OutputExistsError, match="out.json already exists; pass --force"):
        write_bytes_atomic(target, b"[]")


def test_region_volumes_count_voxels() -> None:
    grid = Grid((4, 4, 4), np.diag([2.0, 2.0, 2.0, 1.0]))
    label = np.zeros((4, 4, 4), np.uint8)
    label[0, 0, :2], label[1, 1, 1], label[2, 2, 2] = 2, 4, 1
    volumes = region_volumes_ml(label, grid)
    assert volumes == {"label_NCR": 0.008, "label_ED": 0.016, "label_ET": 0.008, "ET": 0.008, "TC": 0.016, "WT": 0.032}


def test_a_loaded_brats_case_exports_on_its_stored_grid(tmp_path: Path) -> None:
    """The GUI's path: load_case_folder (RAS-reoriented) -> label in RAS order -> NIfTI on the stored LPS grid."""
    from engine.case import load_case_folder
    from engine.prepared import prepared_from_case

    stored = grid_from((40, 44, 36), (1, 1, 1), LPS_AXES)
    write_nifti_case(tmp_path / "in", {m: stored for m in ("t1", "t1ce", "t2", "flair")},
                     {m: f"B_{m}.nii.gz" for m in ("t1", "t1ce", "t2", "flair")})
    case = load_case_folder(tmp_path / "in")
    prepared = prepared_from_case(case)
    label_ras = tumour_labels(Grid(case.shape, case.affine))
    result = export_segmentation(prepared, label_ras, tmp_path / "out", ExportSettings(formats=("nifti", "json")))
    image = nib.load(result.files["nifti"])
    assert np.allclose(image.affine, stored.affine) and image.shape == stored.shape
    assert np.array_equal(np.asarray(image.dataobj), tumour_labels(stored))
