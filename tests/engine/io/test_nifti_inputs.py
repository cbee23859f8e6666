"""NIfTI input: BraTS names, keyword guesses, explicit per-modality paths, and bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from engine.errors import AmbiguousInputError, CaseError
from engine.io import find_nifti_inputs, load_inputs, plan_inputs, read_nifti_volume
from tests.engine.synthetic_cases import LPS_AXES, grid_from, head, write_nifti, write_nifti_case

GRID = grid_from((12, 14, 10), (1, 1, 1), LPS_AXES)
ALL = {m: GRID for m in ("t1", "t1ce", "t2", "flair")}


def test_keyword_names_are_guessed(tmp_path: Path) -> None:
    names = {"t1": "AX_T1_pre.nii.gz", "t1ce": "AX_T1_POST_GD.nii.gz", "t2": "t2_tse_ax.nii", "flair": "flair_3d.nii.gz"}
    write_nifti_case(tmp_path, ALL, names)
    write_nifti(tmp_path / "brainmask.nii.gz", np.ones(GRID.shape, np.uint8), GRID)
    found = find_nifti_inputs(tmp_path)
    assert {r: p.name for r, (p, _) in found.items()} == names
    assert all(guess.confidence < 1.0 for _, guess in found.values())


def test_brats_tokens_win_over_keyword_guesses(tmp_path: Path) -> None:
    write_nifti_case(tmp_path, ALL, {m: f"P1_{m}.nii.gz" for m in ALL})
    write_nifti(tmp_path / "flair_old_ax.nii.gz", head(GRID), GRID)  # keyword candidate, lower confidence
    found = find_nifti_inputs(tmp_path)
    assert found["flair"][0].name == "P1_flair.nii.gz"


def test_two_equal_candidates_are_ambiguous(tmp_path: Path) -> None:
    names = {"t1": "t1.nii.gz", "t1ce": "t1_post.nii.gz", "t2": "t2.nii.gz", "flair": "flair_ax.nii.gz"}
    write_nifti_case(tmp_path, ALL, names)
    write_nifti(tmp_path / "flair_cor.nii.gz", head(GRID), GRID)
    with pytest.raises(AmbiguousInputError, match="could be flair: flair_ax.nii.gz and flair_cor.nii.gz"):
        plan_inputs(tmp_path)
    plan = plan_inputs(tmp_path, {"flair": tmp_path / "flair_cor.nii.gz"})
    assert plan.choices["flair"].nifti.name == "flair_cor.nii.gz"


def test_explicit_paths_without_a_folder(tmp_path: Path) -> None:
    write_nifti_case(tmp_path / "a", ALL)
    paths = {m: tmp_path / "a" / f"Synth_{m}.nii.gz" for m in ALL}
    images = load_inputs(plan_inputs(None, paths))
    assert list(images) == ["t1", "t1ce", "t2", "flair"]
    assert images["t1ce"].grid.same_as(GRID)
    assert images["t1ce"].source.confidence == 1.0
    with pytest.raises(CaseError, match="missing modality t2: give it with --t2"):
        plan_inputs(None, {m: p for m, p in paths.items() if m != "t2"})


def test_missing_modality_names_it(tmp_path: Path) -> None:
    write_nifti_case(tmp_path, {m: GRID for m in ("t1", "t1ce", "flair")})
    with pytest.raises(CaseError, match="missing modality t2"):
        plan_inputs(tmp_path)


def test_empty_folder_and_unknown_override(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="is empty"):
        plan_inputs(tmp_path)
    write_nifti_case(tmp_path, ALL)
    with pytest.raises(CaseError, match="unknown modality 'pd'"):
        plan_inputs(tmp_path, {"pd": "x"})
    with pytest.raises(CaseError, match="--t2 nothing.nii.gz: no file, folder or series"):
        plan_inputs(tmp_path, {"t2": "nothing.nii.gz"})


def _bad_file(path: Path, kind: str) -> None:
    if kind == "truncated":
        write_nifti(path, head(GRID), GRID)
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "not_an_image":
        path.write_bytes(gzip.compress(b"hello, this is a text file"))
    elif kind == "2d":
        nib.save(nib.Nifti1Image(np.ones((12, 14), np.float32), np.eye(4)), path)
    elif kind == "4d":
        nib.save(nib.Nifti1Image(np.ones((12, 14, 10, 3), np.float32), np.eye(4)), path)
    elif kind == "nan":
        data = head(GRID)
        data[3, 3, 3], data[4, 4, 4] = np.nan, np.inf
        write_nifti(path, data, GRID)


@pytest.mark.parametrize(("kind", "message"), [
    ("truncated", "t2.nii.gz is not a readable NIfTI image"), ("not_an_image", "t2.nii.gz is not a readable NIfTI"),
    ("2d", "t2.nii.gz has 2 dimensions"), ("4d", "t2.nii.gz has 4 dimensions"),
    ("nan", "t2.nii.gz has 2 NaN or infinite voxels"),
])
def test_bad_files_have_one_line_messages(tmp_path: Path, kind: str, message: str) -> None:
    _bad_file(tmp_path / "t2.nii.gz", kind)
    with pytest.raises(CaseError, match=message) as error:
        read_nifti_volume(tmp_path / "t2.nii.gz", "t2")
    assert "\n" not in str(error.value)


def test_contrasts_read_side_by_side_equal_those_read_one_after_another(tmp_path: Path) -> None:
    grids = {m: grid_from((12 + i, 14, 10), (1, 1, 1 + i / 2), LPS_AXES) for i, m in enumerate(ALL)}
    write_nifti_case(tmp_path, grids)
    plan = plan_inputs(tmp_path)
    together = load_inputs(plan, workers=4)
    alone = load_inputs(plan, workers=1)
    assert list(together) == list(alone) == ["t1", "t1ce", "t2", "flair"]
    for role, image in together.items():
        assert image.grid.same_as(grids[role]) and image.grid.same_as(alone[role].grid)
        assert np.array_equal(image.data, alone[role].data)
        assert image.source == alone[role].source


def test_a_broken_contrast_read_side_by_side_names_itself(tmp_path: Path) -> None:
    write_nifti_case(tmp_path, ALL)
    plan = plan_inputs(tmp_path)
    (tmp_path / "Synth_t2.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(CaseError, match="Synth_t2"):
        load_inputs(plan, workers=4)
