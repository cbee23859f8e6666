"""The lesion table: lesions vs small foci, volumes, centre slice, hemisphere, incremental updates, a real case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from engine.lesions import LesionCache, head_orientation, lesion_table
from engine.measure import measure, measurements_from_cache, measurements_record

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"


def _two_lesions_and_a_speck(shape=(60, 50, 30)) -> np.ndarray:
    i, j, k = np.ogrid[: shape[0], : shape[1], : shape[2]]
    label = np.zeros(shape, np.uint8)
    big = ((i - 40) / 12) ** 2 + ((j - 25) / 10) ** 2 + ((k - 15) / 8) ** 2
    label[big < 1] = 2
    label[big < 0.5] = 4
    label[big < 0.1] = 1
    label[5:12, 10:17, 3:8] = 4  # a second lesion, 245 voxels
    label[3, 45, 25] = 2  # a speck
    return label


def test_lesions_small_foci_volumes_and_centre():
    label = _two_lesions_and_a_speck()
    table = lesion_table(label, (1.0, 1.0, 1.0))
    components, count = ndimage.label(label > 0, structure=np.ones((3, 3, 3)))
    assert count == 3 and len(table.lesions) == 2 and table.small_foci == 1 and table.small_foci_ml == 0.001
    first, second = table.lesions
    assert first.number == 1 and first.volumes_ml["total"] > second.volumes_ml["total"]
    mask = components == components[40, 25, 15]
    assert first.volumes_ml == {"NCR": (label[mask] == 1).sum() / 1000, "ED": (label[mask] == 2).sum() / 1000,
                                "ET": (label[mask] == 4).sum() / 1000, "total": mask.sum() / 1000}
    assert mask[first.centre] and first.centre_slice == first.centre[2] + 1 and first.lobe == "n/a"
    assert second.volumes_ml == {"NCR": 0.0, "ED": 0.0, "ET": 0.245, "total": 0.245}
    assert table.lesions[0].hemisphere == "n/a"  # no image orientation given
    assert len(lesion_table(label, (1.0, 1.0, 1.0), min_volume_ml=0.5).lesions) == 1
    assert len(lesion_table(label, (1.0, 1.0, 1.0), min_volume_ml=0.0).lesions) == 3
    with pytest.raises(ValueError, match="minimum lesion volume"):
        lesion_table(label, (1.0, 1.0, 1.0), min_volume_ml=-1)
    assert lesion_table(label.astype(np.float32), (1.0, 1.0, 1.0)) == table  # whole-number floats are labels
    with pytest.raises(ValueError, match="integer label map"):
        LesionCache((1.0, 1.0, 1.0)).update(label + 0.5)


def test_hemisphere_from_the_affine_and_the_head():
    label = _two_lesions_and_a_speck()
    image = np.zeros(label.shape, np.float32)
    image[4:57] = 100.0  # the head spans voxels 4..56 along axis 0: midline at 30
    ras = np.diag([1.0, 1.0, 1.0, 1.0])  # axis 0 runs towards the patient's right
    table = lesion_table(label, (1.0, 1.0, 1.0), affine=ras, image=image)
    assert [lesion.hemisphere for lesion in table.lesions] == ["right", "left"]
    lps = np.diag([-1.0, -1.0, 1.0, 1.0])  # axis 0 runs towards the patient's left
    assert [lesion.hemisphere for lesion in lesion_table(label, (1.0, 1.0, 1.0), affine=lps, image=image).lesions] == \
        ["left", "right"]
    label[20:45, 20:30, 10:20] = 2  # joins the big lesion across the midline
    assert lesion_table(label, (1.0, 1.0, 1.0), affine=ras, image=image).lesions[0].hemisphere == "bilateral"
    assert head_orientation(ras, np.zeros_like(image)) is None


def test_incremental_updates_match_a_full_recomputation():
    rng = np.random.default_rng(3)
    label = _two_lesions_and_a_speck()
    cache = LesionCache((1.0, 1.0, 2.0))
    cache.update(label)

    def summary(table):
        return [(lesion.volumes_ml, lesion.centre, lesion.rano_status, lesion.rano) for lesion in table.lesions], \
            table.small_foci, table.small_foci_ml

    for _ in range(25):
        centre, radius = rng.integers(0, label.shape), int(rng.integers(1, 4))
        box = tuple(slice(max(c - radius, 0), c + radius) for c in centre)
        label[box] = rng.choice([0, 1, 2, 4])
        incremental = cache.update(label)
        assert summary(incremental) == summary(lesion_table(label, (1.0, 1.0, 2.0)))
        fresh = measure(label, (1.0, 1.0, 2.0))
        kept = measurements_from_cache(cache)  # volumes and key slices from per-slice counts kept up to date
        assert (kept.volumes_ml, kept.max_et_slice, kept.max_tumour_slice) == \
            (fresh.volumes_ml, fresh.max_et_slice, fresh.max_tumour_slice)


def test_an_edit_keeps_the_other_lesions_and_their_corrections():
    label = _two_lesions_and_a_speck()
    cache = LesionCache((1.0, 1.0, 1.0))
    table = cache.update(label)
    small = table.lesions[1]
    rano = small.rano
    moved = (rano.longest_ends[0], (rano.longest_ends[0][0], rano.longest_ends[0][1] + 3, rano.slice_index))
    corrected = cache.correct(small.key, "longest", moved).by_key(small.key)
    assert corrected.rano.corrected and corrected.rano.longest_ends == moved and corrected.rano.longest_mm == 4.0
    label[38:41, 24:27, 14] = 2  # an edit inside the big lesion only
    after = cache.update(label)
    assert after.by_key(small.key).rano == corrected.rano  # untouched lesion: same key, correction kept
    assert after.lesions[0].volumes_ml != table.lesions[0].volumes_ml
    record = measurements_record(measure(label, (1.0, 1.0, 1.0)), affine=np.eye(4))
    assert record["lesion_count"] == 2 and record["small_foci"] == {"count": 1, "volume_ml": 0.001}
    assert record["lesions"][0]["centre"]["axial_slice"] == record["lesions"][0]["centre"]["voxel"][2] + 1


@pytest.mark.skipif(not (REAL / "TCGA-DU-7294" / "reference").is_dir(),
                    reason="real case ../shared/data/real/TCGA-DU-7294/reference is absent")
@pytest.mark.parametrize("fusion", ["fusion-mav", "fusion-simple"])
def test_tcga_du_7294_with_its_fusion_reference_is_one_lesion(fusion: str):
    from engine.case import load_case_folder
    from engine.seg_import import load_segmentation

    case = load_case_folder(REAL / "TCGA-DU-7294")
    imported = load_segmentation(REAL / "TCGA-DU-7294" / "reference" / f"{fusion}.nii.gz", case)
    result = measure(imported.label, case.spacing, affine=case.affine, image=case.reference.data)
    assert result.lesions == 1, result.table
    lesion = result.table.lesions[0]
    # the tumour lies in the patient's right hemisphere (screen left in docs/screenshots/review-overlay.png)
    assert lesion.hemisphere == "right" and lesion.volumes_ml["total"] == pytest.approx(24.2, abs=0.2)
    # the fusion has no enhancing tumour (labels 0/1/2): no RANO measurement, non-measurable
    assert lesion.volumes_ml["ET"] == 0 and lesion.rano is None and lesion.rano_status == "non-measurable"
