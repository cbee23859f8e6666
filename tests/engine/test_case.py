from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from engine.case import MODALITIES, CaseError, find_case_files, load_case_folder, modality_of

LPS_AFFINE = np.array([[-1.0, 0, 0, 0], [0, -1.0, 0, 23], [0, 0, 1.0, 0], [0, 0, 0, 1]])
SHAPE = (24, 24, 12)


def write_case(folder: Path, names: dict[str, str], affine: np.ndarray = LPS_AFFINE, seg: bool = True) -> Path:
    """A small case whose voxel (i, j, k) value encodes its stored index, so reorientation can be checked."""
    folder.mkdir(parents=True, exist_ok=True)
    i, j, k = np.indices(SHAPE)
    for offset, modality in enumerate(MODALITIES):
        data = (i * 10000 + j * 100 + k + offset).astype(np.float32)
        nib.save(nib.Nifti1Image(data, affine), folder / names[modality])
    if seg:
        label = np.zeros(SHAPE, np.uint8)
        label[2:5, 3:6, 4:7] = 2
        label[3, 4, 5] = 3
        nib.save(nib.Nifti1Image(label, affine), folder / names["seg"])
    return folder


BRATS2020 = {m: f"Case-1_{m}.nii.gz" for m in MODALITIES} | {"seg": "Case-1_seg.nii.gz"}
BRATS2023 = {"t1": "BraTS-X-t1n.nii.gz", "t1ce": "BraTS-X-t1c.nii.gz", "t2": "BraTS-X-t2w.nii.gz",
             "flair": "BraTS-X-t2f.nii.gz", "seg": "BraTS-X-seg.nii.gz"}


@pytest.mark.parametrize(
    ("name", "role"),
    [("a_t1.nii.gz", "t1"), ("a_t1ce.nii", "t1ce"), ("b-t1c.nii.gz", "t1ce"), ("x_fla.nii.gz", "flair"),
     ("t2.nii.gz", "t2"), ("y-t2f.nii.gz", "flair"), ("y-t1n.nii.gz", "t1"), ("z_seg.nii.gz", "seg"),
     ("notes.txt", None), ("a_t1.mha", None), ("brain.nii.gz", None)],
)
def test_modality_of_reads_the_last_name_token(name: str, role: str | None) -> None:
    assert modality_of(Path(name)) == role


@pytest.mark.parametrize("names", [BRATS2020, BRATS2023], ids=["brats2020", "brats2023"])
def test_loads_both_naming_conventions(tmp_path: Path, names: dict[str, str]) -> None:
    case = load_case_folder(write_case(tmp_path / "case", names))
    assert list(case.volumes) == list(MODALITIES)
    assert case.shape == SHAPE
    assert case.label is not None and set(np.unique(case.label)) == {0, 2, 4}
    assert case.native_axcodes == ("L", "P", "S")


def test_volumes_are_reoriented_to_ras(tmp_path: Path) -> None:
    case = load_case_folder(write_case(tmp_path / "case", BRATS2020))
    assert nib.aff2axcodes(case.affine) == ("R", "A", "S")
    t1 = case.volumes["t1"].data
    # Stored axis 0 ran towards the left and axis 1 posterior: both flip in RAS order.
    assert t1[0, 0, 0] == (SHAPE[0] - 1) * 10000 + (SHAPE[1] - 1) * 100
    # The world position of a voxel is unchanged by reorientation.
    world = case.affine @ np.array([0, 0, 0, 1.0])
    stored_index = np.linalg.inv(LPS_AFFINE) @ world
    assert np.allclose(stored_index[:3], [SHAPE[0] - 1, SHAPE[1] - 1, 0])


def test_case_id_is_the_common_file_prefix(tmp_path: Path) -> None:
    assert load_case_folder(write_case(tmp_path / "folder", BRATS2020)).case_id == "Case-1"


def test_missing_modality_is_named(tmp_path: Path) -> None:
    folder = write_case(tmp_path / "case", BRATS2020)
    (folder / BRATS2020["flair"]).unlink()
    with pytest.raises(CaseError, match="missing modality flair"):
        load_case_folder(folder)


def test_empty_folder_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="no MRI volumes"):
        load_case_folder(tmp_path)
    with pytest.raises(CaseError, match="not a folder"):
        load_case_folder(tmp_path / "absent")


def test_two_candidates_for_one_modality(tmp_path: Path) -> None:
    folder = write_case(tmp_path / "case", BRATS2020)
    (folder / "other_flair.nii.gz").write_bytes((folder / BRATS2020["flair"]).read_bytes())
    with pytest.raises(CaseError, match="two files .* look like flair"):
        find_case_files(folder)


def test_truncated_and_non_image_files(tmp_path: Path) -> None:
    folder = write_case(tmp_path / "case", BRATS2020)
    t2 = folder / BRATS2020["t2"]
    t2.write_bytes(t2.read_bytes()[:300])
    with pytest.raises(CaseError, match="not a readable NIfTI"):
        load_case_folder(folder)
    t2.write_bytes(gzip.compress(b"this is not an image"))
    with pytest.raises(CaseError, match="not a readable NIfTI"):
        load_case_folder(folder)


@pytest.mark.parametrize(("shape", "message"), [((24, 24), "2 dimensions"), ((24, 24, 12, 3), "4 dimensions"),
                                                ((24, 24, 1), "2D image")])
def test_wrong_dimensionality(tmp_path: Path, shape: tuple[int, ...], message: str) -> None:
    folder = write_case(tmp_path / "case", BRATS2020)
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.eye(4)), folder / BRATS2020["t1"])
    with pytest.raises(CaseError, match=message):
        load_case_folder(folder)


def test_non_finite_voxels(tmp_path: Path) -> None:
    folder = write_case(tmp_path / "case", BRATS2020)
    data = np.ones(SHAPE, np.float32)
    data[1, 2, 3] = np.nan
    nib.save(nib.Nifti1Image(data, LPS_AFFINE), folder / BRATS2020["t2"])
    with pytest.raises(CaseError, match="1 NaN or infinite"):
        load_case_folder(folder)


def test_grids_that_differ_are_refused(tmp_path: Path) -> None:
    folder = write_case(tmp_path / "case", BRATS2020)
    shifted = LPS_AFFINE.copy()
    shifted[0, 3] += 5
    nib.save(nib.Nifti1Image(np.ones(SHAPE, np.float32), shifted), folder / BRATS2020["t2"])
    with pytest.raises(CaseError, match="not on the grid"):
        load_case_folder(folder)


def test_real_cases_share_one_orientation(real_data: Path) -> None:
    """TCGA (stored LPS) and AURORA (stored RAS) end up in the same voxel orientation."""
    centroids = {}
    for name in ("TCGA-DU-7294", "AURORA-example", "BraTS-GLI-00001-000"):
        case = load_case_folder(real_data / name)
        assert case.shape == (240, 240, 155)
        brain = case.volumes["t1ce"].data > 0
        centroids[name] = np.argwhere(brain).mean(axis=0)
    assert load_case_folder(real_data / "TCGA-DU-7294").native_axcodes == ("L", "P", "S")
    assert load_case_folder(real_data / "AURORA-example").native_axcodes == ("R", "A", "S")
    for centroid in centroids.values():
        assert np.allclose(centroid, centroids["TCGA-DU-7294"], atol=12)
