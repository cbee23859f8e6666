"""Tests of the synthetic phantom generator (trainer.phantoms), run on the real generator.

The default suite generates three full-size cases (about 1-2 s each after a one-time MNI152 load of a few
seconds): a high-grade case, a low-grade multifocal case and the high-grade case again through
generate_dataset (reproducibility). Geometry helpers are tested on small arrays. The 20-case sweep is slow.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from trainer.phantoms import (
    BRATS_AFFINE,
    BRATS_SHAPE,
    CONTRASTS,
    Phantom,
    PhantomConfig,
    case_id_for,
    case_seed,
    generate_dataset,
    generate_phantom,
    label_volumes_ml,
    write_phantom,
)
from trainer.phantoms.shapes import FocusPlan, apply_mass_effect, draw_focus, sphere_radius

HIGH_GRADE = PhantomConfig(p_low_grade=0.0, p_multifocal=0.0)
LOW_GRADE_MULTIFOCAL = PhantomConfig(p_low_grade=1.0, p_multifocal=1.0)
DATASET_SEED = 1  # case 0 of this data set is a mid-sized (~45 mL) high-grade tumour under HIGH_GRADE
CASE_FILES = [f"_{name}.nii.gz" for name in (*CONTRASTS, "seg")]


@pytest.fixture(scope="module")
def high_grade() -> Phantom:
    """Case 0 of data set DATASET_SEED (high grade)."""
    return generate_phantom(case_seed(DATASET_SEED, 0), HIGH_GRADE)


@pytest.fixture(scope="module")
def low_grade() -> Phantom:
    """A low-grade, multifocal case."""
    return generate_phantom(12, LOW_GRADE_MULTIFOCAL)


def _median(image: np.ndarray, mask: np.ndarray) -> float:
    assert mask.sum() > 500, "mask too small for a meaningful median"
    return float(np.median(image[mask]))


def _tissue_medians(phantom: Phantom, contrast: str) -> dict[str, float]:
    return {name: _median(phantom.images[contrast], phantom.tissue[name]) for name in ("wm", "gm", "csf")}


# --- geometry and labels ---------------------------------------------------------------------------------


def test_arrays_are_on_the_brats_grid(high_grade: Phantom) -> None:
    assert set(high_grade.images) == set(CONTRASTS)
    for image in high_grade.images.values():
        assert image.shape == BRATS_SHAPE and image.dtype == np.float32
        assert image.min() >= 0 and np.array_equal(image, np.rint(image))  # int16-exact
        assert not image[~high_grade.tissue["brain"]].any()  # skull-stripped: zero outside the brain
    assert high_grade.label.shape == BRATS_SHAPE and high_grade.label.dtype == np.uint8
    np.testing.assert_array_equal(high_grade.affine, BRATS_AFFINE)


def test_brain_sits_like_a_real_brats_brain(high_grade: Phantom, real_data: Path) -> None:
    """Centred like a real BraTS brain, and right side up: its T1 matches the real T1 far better than flips do."""
    real_t1 = np.asanyarray(nib.load(real_data / "TCGA-DU-7294" / "TCGA-DU-7294_t1.nii.gz").dataobj).astype(
        np.float32
    )
    real_brain, brain = real_t1 > 0, high_grade.tissue["brain"]
    overlap = 2.0 * np.logical_and(brain, real_brain).sum() / (brain.sum() + real_brain.sum())
    assert overlap > 0.85
    centroid = np.argwhere(brain).mean(axis=0)
    assert np.all(np.abs(centroid - np.argwhere(real_brain).mean(axis=0)) < 8.0), centroid

    def t1_correlation(t1: np.ndarray) -> float:
        both = (t1 > 0) & real_brain
        return float(np.corrcoef(t1[both], real_t1[both])[0, 1])

    upright = t1_correlation(high_grade.images["t1"])
    assert upright > 0.2
    for axis in (1, 2):  # anterior/posterior and superior/inferior flips match far worse
        assert t1_correlation(np.flip(high_grade.images["t1"], axis=axis)) < 0.75 * upright


def test_labels_are_brats_labels_nested_inside_the_brain(high_grade: Phantom) -> None:
    label = high_grade.label
    assert set(np.unique(label)) == {0, 1, 2, 4}
    assert not label[~high_grade.tissue["brain"]].any()
    tumour_core = (label == 1) | (label == 4)
    necrosis = label == 1
    # Necrosis lies inside the enhancing rim: its neighbours are tumour core, never oedema or healthy tissue.
    assert not (ndimage.binary_dilation(necrosis) & ~tumour_core).any()
    # Oedema surrounds the core: most of the core's outer shell is oedema.
    shell = ndimage.binary_dilation(tumour_core) & ~tumour_core
    assert (label[shell] == 2).mean() > 0.5
    volumes = high_grade.metadata["volumes_ml"]
    assert volumes == label_volumes_ml(label)
    assert volumes["TC"] == pytest.approx(volumes["NCR"] + volumes["ET"])
    assert volumes["WT"] == pytest.approx(volumes["TC"] + volumes["ED"])
    assert 5.0 <= volumes["WT"] <= 150.0


def test_low_grade_case_has_no_enhancing_tumour(low_grade: Phantom) -> None:
    assert low_grade.metadata["low_grade"] is True
    assert set(np.unique(low_grade.label)) == {0, 1, 2}


def test_multifocal_case_has_separate_tumour_cores(low_grade: Phantom) -> None:
    _, n_cores = ndimage.label((low_grade.label == 1) | (low_grade.label == 4))
    assert low_grade.metadata["n_foci"] >= 2
    assert n_cores >= 2


def _plan(core_radius_mm: float, centre: float, mass_effect: float = 0.3) -> FocusPlan:
    core_ml = 4.0 / 3.0 * math.pi * core_radius_mm**3 / 1000.0
    return FocusPlan(
        np.full(3, centre),
        wt_ml=3.0 * core_ml,
        core_ml=core_ml,
        necrosis_fraction=0.4,
        mass_effect=mass_effect,
    )


def test_mass_effect_pushes_anatomy_outward_without_folding() -> None:
    plan = _plan(core_radius_mm=8.0, centre=40.0)
    coords = np.indices((81, 81, 81), dtype=np.float32)
    identity = coords.copy()
    apply_mass_effect(coords, plan)
    ray = np.arange(41, 81)  # voxels along +i from the centre
    source_radius = coords[0, ray, 40, 40] - 40.0
    target_radius = ray - 40.0
    # Monotone, so nothing folds; the innermost 0.3 core radii (hidden under the core) sample the centre.
    assert np.all(np.diff(source_radius) >= 0)
    assert np.all(np.diff(source_radius)[target_radius[1:] > 0.3 * 8.0 + 1] > 0)
    push = target_radius - source_radius  # anatomy from nearer the centre appears here: pushed outward
    assert np.all(push[target_radius <= 1.5 * 8.0] > 0.5)
    assert np.all(push[target_radius <= 2.5 * 8.0] > 0.0)
    assert push.max() == pytest.approx(0.3 * 8.0, abs=0.05)  # peak displacement = mass_effect x core radius
    far = np.sqrt(((identity - 40.0) ** 2).sum(axis=0)) > 40
    np.testing.assert_allclose(coords[:, far], identity[:, far], atol=0.02)


def test_oedema_spreads_along_white_matter_not_cortex_or_csf() -> None:
    shape = (97, 97, 97)
    brain = np.ones(shape, dtype=bool)
    wm = np.zeros(shape, dtype=np.float32)
    wm[:48] = 1.0  # white matter on one side of the centre, grey matter on the other
    csf = np.zeros(shape, dtype=np.float32)
    csf[:, :, :20] = 1.0
    plan = _plan(core_radius_mm=8.0, centre=48.0)
    crop, label = draw_focus(np.random.default_rng(0), plan, brain, wm, csf)
    oedema = np.zeros(shape, dtype=bool)
    oedema[crop] = label == 2
    assert oedema[:48].sum() > 2 * oedema[49:].sum()
    assert not oedema[:, :, :20].any()
    assert set(np.unique(label)) == {0, 1, 2, 4}
    assert label_volumes_ml(label)["WT"] == pytest.approx(plan.wt_ml, rel=0.1)
    assert sphere_radius(plan.core_ml) == pytest.approx(8.0)


# --- contrasts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["high_grade", "low_grade"])
def test_tissue_order_in_each_contrast(case: str, request: pytest.FixtureRequest) -> None:
    phantom = request.getfixturevalue(case)
    t1 = _tissue_medians(phantom, "t1")
    assert t1["wm"] > t1["gm"] > t1["csf"]
    t1ce = _tissue_medians(phantom, "t1ce")
    assert t1ce["wm"] > t1ce["gm"] > t1ce["csf"]
    t2 = _tissue_medians(phantom, "t2")
    assert t2["csf"] > t2["gm"] > t2["wm"]
    flair = _tissue_medians(phantom, "flair")
    assert flair["gm"] > flair["wm"] > flair["csf"]


def test_enhancing_tumour_is_bright_on_t1ce_only(high_grade: Phantom) -> None:
    et, wm = high_grade.label == 4, high_grade.tissue["wm"]
    t1_ratio = _median(high_grade.images["t1"], et) / _median(high_grade.images["t1"], wm)
    t1ce_ratio = _median(high_grade.images["t1ce"], et) / _median(high_grade.images["t1ce"], wm)
    assert t1ce_ratio > 1.2
    assert t1ce_ratio > 1.5 * t1_ratio


@pytest.mark.parametrize("contrast", ["t2", "flair"])
def test_oedema_is_bright_on_t2_and_flair(contrast: str, high_grade: Phantom) -> None:
    image = high_grade.images[contrast]
    assert _median(image, high_grade.label == 2) > 1.2 * _median(image, high_grade.tissue["wm"])


def test_cases_are_randomised(high_grade: Phantom, low_grade: Phantom) -> None:
    """Different seeds give different anatomy placement, tumours and contrast (relative GM/WM differs)."""
    assert not np.array_equal(high_grade.label, low_grade.label)
    assert not np.array_equal(high_grade.tissue["brain"], low_grade.tissue["brain"])  # jitter
    ratios = [
        _tissue_medians(p, "t1")["gm"] / _tissue_medians(p, "t1")["wm"] for p in (high_grade, low_grade)
    ]
    assert abs(ratios[0] - ratios[1]) > 0.005


# --- writing, reproducibility, speed --------------------------------------------------------------------


def test_written_case_is_a_brats_2020_folder(high_grade: Phantom, tmp_path: Path) -> None:
    folder = write_phantom(high_grade, tmp_path, "Phantom-test")
    assert folder == tmp_path / "Phantom-test"
    assert {p.name for p in folder.iterdir()} >= {f"Phantom-test{suffix}" for suffix in CASE_FILES}
    assert [p.name for p in tmp_path.iterdir()] == ["Phantom-test"]  # no staging folder left behind
    for name in CONTRASTS:
        image = nib.load(folder / f"Phantom-test_{name}.nii.gz")
        assert image.shape == BRATS_SHAPE and image.get_data_dtype() == np.int16
        assert nib.aff2axcodes(image.affine) == ("L", "P", "S")
        np.testing.assert_allclose(image.affine, BRATS_AFFINE)
        assert image.header.get_zooms() == (1.0, 1.0, 1.0)
        np.testing.assert_array_equal(np.asanyarray(image.dataobj), high_grade.images[name])
    seg = nib.load(folder / "Phantom-test_seg.nii.gz")
    assert seg.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(seg.dataobj), high_grade.label)


def test_writer_refuses_to_overwrite_unless_asked(low_grade: Phantom, tmp_path: Path) -> None:
    folder = write_phantom(low_grade, tmp_path, "case")
    marker = folder / "stale.txt"
    marker.write_text("from an earlier run")
    with pytest.raises(FileExistsError, match="overwrite"):
        write_phantom(low_grade, tmp_path, "case")
    assert marker.exists()
    assert write_phantom(low_grade, tmp_path, "case", overwrite=True) == folder
    assert not marker.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["case"]


def test_same_seed_gives_byte_identical_files(high_grade: Phantom, tmp_path: Path) -> None:
    """generate_dataset regenerates case 0 of DATASET_SEED: its files equal those of the fixture, byte for byte."""
    calls: list[tuple[int, int]] = []
    folders = generate_dataset(
        tmp_path / "set",
        n=1,
        seed=DATASET_SEED,
        config=HIGH_GRADE,
        progress=lambda *done_total: calls.append(done_total),
    )
    assert calls == [(1, 1)]
    assert [p.name for p in folders] == [case_id_for(DATASET_SEED, 0)] == ["Phantom-0001-000"]
    provenance = {
        **high_grade.metadata,
        "dataset": {"seed": DATASET_SEED, "index": 0},
    }  # added by generate_dataset
    reference = write_phantom(
        dataclasses.replace(high_grade, metadata=provenance), tmp_path / "ref", case_id_for(DATASET_SEED, 0)
    )
    names = sorted(p.name for p in reference.iterdir())
    assert names == sorted(p.name for p in folders[0].iterdir())
    for name in names:
        assert (folders[0] / name).read_bytes() == (reference / name).read_bytes(), name
    with pytest.raises(FileExistsError, match="overwrite"):  # refuses before generating anything
        generate_dataset(tmp_path / "set", n=1, seed=DATASET_SEED)


def test_case_seeds_are_distinct() -> None:
    seeds = {case_seed(seed, index) for seed in range(5) for index in range(50)}
    assert len(seeds) == 250


# --- argument validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seed_is_rejected(seed: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        generate_phantom(seed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"n": 0}, "n must"), ({"n": 2.0}, "n must"), ({"seed": -5}, "seed")]
)
def test_bad_dataset_arguments_are_rejected(kwargs: dict, match: str, tmp_path: Path) -> None:
    arguments = {"out_dir": tmp_path, "n": 1, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        generate_dataset(**arguments)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("case_id", ["", "../escape", "a/b", ".hidden", "x" * 101])
def test_bad_case_id_is_rejected(case_id: str, low_grade: Phantom, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="case_id"):
        write_phantom(low_grade, tmp_path, case_id)


@pytest.mark.parametrize(
    "kwargs",
    [{"p_low_grade": 1.5}, {"wt_volume_ml": (1.0, 50.0)}, {"wt_volume_ml": (80.0, 20.0)}, {"max_foci": 1}],
)
def test_bad_config_is_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="PhantomConfig"):
        PhantomConfig(**kwargs)


# --- sweep ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_twenty_default_cases_stay_in_the_brats_volume_range() -> None:
    grades, foci = set(), set()
    for seed in range(20):
        phantom = generate_phantom(seed)
        volumes = phantom.metadata["volumes_ml"]
        assert 5.0 <= volumes["WT"] <= 150.0, (seed, volumes)
        assert volumes["TC"] > 0
        assert set(np.unique(phantom.label)) <= {0, 1, 2, 4}
        grades.add(phantom.metadata["low_grade"])
        foci.add(phantom.metadata["n_foci"] > 1)
    assert grades == {True, False} and foci == {True, False}


@pytest.mark.slow
def test_parallel_generation_gives_the_same_files(tmp_path: Path) -> None:
    """Cases depend on their seed alone: two worker processes write the same bytes as one process."""
    calls: list[tuple[int, int]] = []
    serial = generate_dataset(tmp_path / "serial", n=2, seed=7)
    parallel = generate_dataset(tmp_path / "parallel", n=2, seed=7, workers=2,
                                progress=lambda *done_total: calls.append(done_total))
    assert calls == [(1, 2), (2, 2)]
    assert [p.name for p in serial] == [p.name for p in parallel]
    for one, two in zip(serial, parallel, strict=True):
        for file in sorted(one.iterdir()):
            assert (two / file.name).read_bytes() == file.read_bytes(), file.name
