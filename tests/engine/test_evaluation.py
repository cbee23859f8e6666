"""engine.evaluation: case discovery in every layout, label conventions, grid checks, false-positive components
and the brats-evaluation cross-check, on tiny hand-made label maps with known answers."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from engine.evaluation import discover_cases, false_positive_components, parse_reference_names, read_label_map
from engine.evaluation.scoring import check_same_grid, score_pair
from engine.metrics import region_scores

SHAPE = (20, 18, 16)
CONTRASTS_2020 = ("t1", "t1ce", "t2", "flair")
CONTRASTS_2023 = ("t1n", "t1c", "t2w", "t2f")


def write_label(path: Path, label: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Save ``label`` as NIfTI (1 mm RAS unless ``affine`` says otherwise), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(label, np.eye(4) if affine is None else affine), str(path))
    return path


def write_case(folder: Path, seg: np.ndarray | None = None, *, brats2023: bool = False,
               references: dict[str, np.ndarray] | None = None) -> Path:
    """A case folder in BraTS 2020 (``CASE_t1``) or 2023 (``CASE-t1n``) naming, with an optional label map
    (``_seg`` / ``-seg``) and ``reference/NAME.nii.gz`` files; the contrasts are blank (discovery reads names)."""
    separator, contrasts = ("-", CONTRASTS_2023) if brats2023 else ("_", CONTRASTS_2020)
    for contrast in contrasts:
        write_label(folder / f"{folder.name}{separator}{contrast}.nii.gz", np.zeros(SHAPE, np.float32))
    if seg is not None:
        write_label(folder / f"{folder.name}{separator}seg.nii.gz", seg)
    for name, label in (references or {}).items():
        write_label(folder / "reference" / f"{name}.nii.gz", label)
    return folder


def tumour(et_label: int = 4) -> np.ndarray:
    """A reference: oedema box around a necrotic core with an enhancing rim slab (ET = ``et_label``)."""
    label = np.zeros(SHAPE, np.uint8)
    label[4:14, 4:14, 4:12] = 2
    label[6:12, 6:12, 6:10] = 1
    label[6:12, 6:12, 6:7] = et_label
    return label


# --- discovery -------------------------------------------------------------------------------------------------

def test_brats2020_and_2023_layouts_use_their_own_seg(tmp_path: Path) -> None:
    write_case(tmp_path / "A20", tumour())
    write_case(tmp_path / "B23", tumour(3), brats2023=True)
    write_case(tmp_path / "NOLABEL")
    (tmp_path / "notes").mkdir()  # a folder that is not a case is ignored
    cases = {c.name: c for c in discover_cases(tmp_path)}
    assert sorted(cases) == ["A20", "B23", "NOLABEL"]
    assert cases["A20"].reference == tmp_path / "A20" / "A20_seg.nii.gz" and cases["A20"].reference_name == "seg"
    assert cases["B23"].reference == tmp_path / "B23" / "B23-seg.nii.gz"
    assert cases["NOLABEL"].reference is None and cases["NOLABEL"].reference_name is None


def test_reference_folder_choice(tmp_path: Path) -> None:
    one = write_case(tmp_path / "ONE", references={"fusion-simple": tumour()})
    several = write_case(tmp_path / "MANY", references={"winner": tumour(3), "isen-20": tumour()})
    assert discover_cases(one)[0].reference_name == "fusion-simple"  # a single case folder as --data
    with pytest.raises(ValueError, match="MANY has several references .*isen-20, winner.*--reference NAME"):
        discover_cases(tmp_path)
    chosen = {c.name: c.reference_name for c in discover_cases(tmp_path, parse_reference_names("winner,fusion-simple"))}
    assert chosen == {"MANY": "winner", "ONE": "fusion-simple"}  # per case, the first name it has
    with pytest.raises(ValueError, match=r"MANY: no reference/nope.nii.gz; this case has: isen-20, winner"):
        discover_cases(several, ("nope",))


def test_own_seg_wins_unless_the_named_reference_exists(tmp_path: Path) -> None:
    case = write_case(tmp_path / "BOTH", tumour(), references={"a": tumour(), "b": tumour()})
    assert discover_cases(case)[0].reference_name == "seg"  # several references: the _seg settles it
    assert discover_cases(case, ("b",))[0].reference == case / "reference" / "b.nii.gz"
    assert discover_cases(case, ("missing",))[0].reference_name == "seg"


def test_empty_or_missing_data_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds no case folders"):
        discover_cases(tmp_path)
    with pytest.raises(ValueError, match="is not a folder"):
        discover_cases(tmp_path / "absent")
    assert parse_reference_names(" a.nii.gz , b ") == ("a", "b") and parse_reference_names(None) == ()


# --- label maps and grids --------------------------------------------------------------------------------------

def test_2023_labels_are_converted_and_the_convention_recorded(tmp_path: Path) -> None:
    image = read_label_map(write_label(tmp_path / "ref.nii.gz", tumour(3).astype(np.float32)))  # float storage
    assert image.convention == "brats2023" and image.label.dtype == np.uint8
    assert np.array_equal(image.label, tumour(4))
    assert read_label_map(write_label(tmp_path / "r20.nii.gz", tumour())).convention == "brats2020"
    assert read_label_map(write_label(tmp_path / "r0.nii.gz", (tumour() > 0).astype(np.uint8))).convention == "no ET"
    mixed = tumour(3)
    mixed[0, 0, 0] = 4
    with pytest.raises(ValueError, match="both 3 and 4"):
        read_label_map(write_label(tmp_path / "mixed.nii.gz", mixed))
    with pytest.raises(ValueError, match="non-integer"):
        read_label_map(write_label(tmp_path / "soft.nii.gz", tumour().astype(np.float32) * 0.5))


def test_grid_mismatch_is_refused_but_another_storage_order_is_not(tmp_path: Path) -> None:
    reference = write_label(tmp_path / "ref.nii.gz", tumour())
    with pytest.raises(ValueError, match=r"shape \(20, 18, 15\).*reference's grid"):
        check_same_grid(write_label(tmp_path / "short.nii.gz", tumour()[:, :, :15]), reference)
    shifted = np.eye(4)
    shifted[0, 3] = 2.0
    with pytest.raises(ValueError, match="affines that differ by up to 2 mm"):
        check_same_grid(write_label(tmp_path / "moved.nii.gz", tumour(), shifted), reference)
    # The same voxels stored with axis 0 flipped (L instead of R): the same grid, the same scores.
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = SHAPE[0] - 1
    flipped = write_label(tmp_path / "flipped.nii.gz", tumour()[::-1].copy(), flip)
    check_same_grid(flipped, reference)
    scores = score_pair(read_label_map(flipped), read_label_map(reference))
    assert all(scores.regions[r].dice == 1.0 and scores.regions[r].hd95 == 0.0 for r in ("ET", "TC", "WT"))


# --- metrics of one pair ---------------------------------------------------------------------------------------

def test_false_positive_components_of_known_blobs() -> None:
    reference = tumour()
    prediction = reference.copy()
    prediction[16:19, 14:17, 12:15] = 2  # a 27-voxel oedema blob far outside the reference WT
    prediction[0:2, 0:2, 0:2] = 4  # an 8-voxel ET blob outside
    prediction[15, 0, 0] = prediction[16, 1, 1] = 4  # 2 voxels touching only by a corner: one component
    # An ET voxel just outside the reference WT on the rim of our WT: it joins our main WT component (which
    # overlaps the reference), but as an ET component of its own it lies outside: an ET false positive only.
    prediction[3, 8, 8] = 4
    fp = false_positive_components(prediction, reference, voxel_ml=0.008)  # 2 mm voxels
    assert (fp.wt_count, fp.et_count) == (3, 3)
    assert fp.wt_ml == pytest.approx((27 + 8 + 2) * 0.008) and fp.et_ml == pytest.approx((8 + 2 + 1) * 0.008)
    assert fp.largest_et_ml == pytest.approx(8 * 0.008)
    assert false_positive_components(reference, reference, 0.008) == type(fp)(0, 0.0, 0, 0.0, 0.0)


def test_score_pair_volumes_and_regions_the_reference_lacks(tmp_path: Path) -> None:
    spacing = (1.0, 1.0, 2.0)
    affine = np.diag([*spacing, 1.0])
    reference = tumour()
    reference[reference == 4] = 1  # no ET in the reference
    prediction = tumour()  # but ET in ours: a false ET inside the reference WT
    pred = read_label_map(write_label(tmp_path / "p.nii.gz", prediction, affine))
    ref = read_label_map(write_label(tmp_path / "r.nii.gz", reference, affine))
    scores = score_pair(pred, ref)
    assert scores.reference_has == {"ET": False, "TC": True, "WT": True} and scores.spacing_mm == spacing
    assert scores.volumes_ml["ET"] == {"ours": pytest.approx(36 * 0.002), "reference": 0.0}
    assert scores.volumes_ml["WT"]["ours"] == scores.volumes_ml["WT"]["reference"] == pytest.approx(800 * 0.002)
    expected = region_scores(prediction, reference, spacing)
    assert {r: (s.dice, s.hd95) for r, s in scores.regions.items()} == {
        r: (s.dice, s.hd95) for r, s in expected.items()}
    assert scores.false_positives.et_count == 0  # the false ET lies inside the reference WT


def test_official_cross_check_agrees_with_ours(tmp_path: Path) -> None:
    pytest.importorskip("brats_evaluation")
    from engine.evaluation.official import OfficialEvaluator

    reference = tumour(3)
    prediction = np.zeros(SHAPE, np.uint8)  # the tumour moved by a voxel or two, thicker ET, one extra blob
    prediction[5:15, 4:13, 4:14] = 2
    prediction[6:12, 7:12, 6:10] = 1
    prediction[6:12, 6:12, 6:8] = 4
    prediction[17:19, 15:17, 13:15] = 2
    pred = read_label_map(write_label(tmp_path / "p.nii.gz", prediction))
    ref = read_label_map(write_label(tmp_path / "r.nii.gz", reference))
    ours = score_pair(pred, ref)
    official = OfficialEvaluator().score("case", pred, ref, ours)
    assert official.error is None and 0.3 < official.dice["ET"] < 1.0  # a real, imperfect pair
    assert official.dice_difference is not None and official.dice_difference < 1e-9
    assert official.hd95_difference is not None and official.hd95_difference < 1e-6
    assert official.hd95["WT"] == pytest.approx(ours.regions["WT"].hd95, abs=1e-6) and official.hd95["WT"] > 0
