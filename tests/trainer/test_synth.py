"""Synthetic v2 generator (trainer.synth) on a small made-up head: shapes, labels, masks, kinds, determinism,
the cache writer, and the packing of SynthSeg label maps."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.trainer.synth_helpers import tiny_head
from trainer.data import cached_cases
from trainer.synth import SynthConfig, generate_case, generate_synthetic_cache, pack_anatomy, read_label_map
from trainer.synth import anatomy as A
from trainer.synth.tumour import KINDS

SHAPE = (72, 80, 64)
SHARED_ANATOMY = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "anatomy"


def one_kind(kind: str) -> SynthConfig:
    return SynthConfig(shape=SHAPE, kind_weights=tuple(1.0 if k == kind else 0.0 for k in KINDS))


@pytest.fixture(scope="module")
def head() -> A.AnatomyMap:
    return tiny_head()


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gives_a_consistent_brats_case(head: A.AnatomyMap, kind: str) -> None:
    case = generate_case(head, seed=3, config=one_kind(kind))
    assert case.image.shape == (4, *case.label.shape) and case.mask.shape == case.label.shape
    assert set(np.unique(case.label)) <= {0, 1, 2, 4}
    assert (case.label > 0).any(), "every case has a tumour"
    assert not (case.label[~case.mask]).any(), "labels only inside the skull-strip mask"
    assert not case.image[:, ~case.mask].any(), "zero outside the mask, as BraTS data"
    inside = case.image[:, case.mask]
    np.testing.assert_allclose(inside.mean(axis=1), 0.0, atol=1e-3)  # z-scored in the mask, as engine.prepare
    np.testing.assert_allclose(inside.std(axis=1), 1.0, atol=1e-3)
    assert case.metadata["kind"] == kind
    if kind == "low_grade":
        assert not (case.label == 4).any(), "low-grade tumours do not enhance"


def test_glioblastoma_has_a_necrotic_core_inside_enhancement(head: A.AnatomyMap) -> None:
    case = generate_case(head, seed=5, config=one_kind("glioblastoma"))
    assert (case.label == 4).sum() > 0 and (case.label == 1).sum() > 0
    necrosis = np.argwhere(case.label == 1).mean(axis=0)
    enhancing = np.argwhere(case.label == 4)
    lesion = case.metadata["lesions"][0]
    # the necrosis sits at the centre; the enhancement around it reaches further out
    start = np.array(case.metadata["box_start"])
    centre = np.array(lesion["centre"]) - start
    assert np.linalg.norm(necrosis - centre) < np.linalg.norm(enhancing - centre, axis=1).mean()


def test_enhancing_mimics_are_bright_on_t1ce_outside_the_tumour(head: A.AnatomyMap) -> None:
    # vessels, dura, sinuses and choroid plexus: voxels brighter on T1ce than on T1 that are not tumour
    case = generate_case(head, seed=11, config=one_kind("low_grade"))
    t1, t1ce = case.image[0], case.image[1]
    bright = (t1ce - t1 > 1.5) & case.mask & (case.label == 0)
    assert bright.sum() > 20


def test_same_seed_same_case_other_seed_other_case(head: A.AnatomyMap) -> None:
    first, again = generate_case(head, 7, SynthConfig(shape=SHAPE)), generate_case(head, 7, SynthConfig(shape=SHAPE))
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.label, again.label)
    other = generate_case(head, 8, SynthConfig(shape=SHAPE))
    assert other.label.shape != first.label.shape or not np.array_equal(other.label, first.label)


def test_cache_writer_is_resumable_and_feeds_the_trainer(tmp_path: Path, head: A.AnatomyMap) -> None:
    anatomy_dir = tmp_path / "anatomy"
    anatomy_dir.mkdir()
    np.savez_compressed(anatomy_dir / "tiny.npz", tissue=head.tissue, parts=head.parts)
    stats = generate_synthetic_cache(anatomy_dir, tmp_path / "cache", n=2, seed=4, config=SynthConfig(shape=SHAPE))
    assert stats["cases"] == 2 and stats["cases_per_second"] > 0
    assert generate_synthetic_cache(anatomy_dir, tmp_path / "cache", n=2, seed=4)["cases"] == 0  # already there
    cases = cached_cases(tmp_path / "cache")
    assert [c.case_id for c in cases] == ["SynthV2-0004-0000", "SynthV2-0004-0001"]
    image, label = cases[0].load()
    assert image.dtype == np.float16 and image.shape == (4, *label.shape) and cases[0].phantom
    metadata = json.loads((tmp_path / "cache" / "SynthV2-0004-0000_synth.json").read_text())
    assert metadata["generator"] == "synthetic-v2.3" and metadata["anatomy"] == "tiny"


def test_bad_inputs_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        generate_synthetic_cache(tmp_path / "missing", tmp_path / "cache", n=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no label maps"):
        generate_synthetic_cache(tmp_path / "empty", tmp_path / "cache", n=1)
    with pytest.raises(ValueError, match="positive"):
        generate_synthetic_cache(tmp_path / "empty", tmp_path / "cache", n=0)


def test_label_maps_are_read_and_packed_as_tissue_classes(tmp_path: Path) -> None:
    labels = np.zeros((20, 20, 20), np.int16)
    labels[5:15, 5:15, 5:15] = 507  # extra-cerebral soft tissue
    labels[7:13, 7:10, 7:13] = 2  # left cerebral white matter
    labels[7:13, 10:13, 7:13] = 42  # right cortex
    labels[9:11, 9:11, 9:11] = 24  # CSF
    source = tmp_path / "maps"
    source.mkdir()
    nib.save(nib.Nifti1Image(labels, np.eye(4)), source / "training_seg_01.nii.gz")
    packed = pack_anatomy(source, tmp_path / "packed")
    original, copy = read_label_map(source / "training_seg_01.nii.gz"), read_label_map(packed[0])
    np.testing.assert_array_equal(original.tissue, copy.tissue)
    assert set(np.unique(copy.tissue)) == {A.BACKGROUND, A.SOFT_TISSUE, A.WM, A.CORTEX, A.SULCAL_CSF}
    assert copy.tissue.shape == (14, 14, 14)  # cropped to the head (10 voxels) with a 2-voxel margin
    assert set(np.unique(copy.parts)) == {0, A.PART_LEFT, A.PART_RIGHT}


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_ANATOMY.is_dir(), reason="../shared/data/anatomy is not present")
def test_a_real_head_gives_a_brats_grid_case() -> None:
    head = read_label_map(sorted(SHARED_ANATOMY.glob("training_seg_*.nii.gz"))[0])
    case = generate_case(head, seed=1)
    assert case.metadata["grid_shape"] == [240, 240, 155]
    assert 900_000 < case.mask.sum() < 2_600_000  # a brain's volume in mm^3, with remnants
    assert (case.label > 0).sum() > 1000


def test_cli_generates_into_a_cache_and_refuses_bad_input(tmp_path: Path, head: A.AnatomyMap,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import main

    assert main.main(["synth", "--anatomy", str(tmp_path / "missing"), "--out", str(tmp_path / "c")]) == 2
    assert "does not exist" in capsys.readouterr().err
    anatomy_dir = tmp_path / "anatomy"
    anatomy_dir.mkdir()
    np.savez_compressed(anatomy_dir / "tiny.npz", tissue=head.tissue, parts=head.parts)
    # the CLI uses the default (BraTS-sized) grid: the tiny head fits in it
    assert main.main(["synth", "--anatomy", str(anatomy_dir), "--out", str(tmp_path / "c"), "--n", "1",
                      "--workers", "1"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["cases"] == 1
    assert [c.case_id for c in cached_cases(tmp_path / "c")] == ["SynthV2-0000-0000"]
