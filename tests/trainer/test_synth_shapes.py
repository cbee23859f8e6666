"""Lesion shapes of the synthetic v2.x generator: growth along tissue is rounded, and no lesion is cut by the box
it is painted in (v2 drew cube-shaped oedema with flat, axis-aligned faces); oedema stays in its hemisphere and
is visible on T2 and FLAIR (v2.2), brighter there than all normal parenchyma (v2.3); caches never mix versions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.trainer.synth_helpers import tiny_head
from trainer.data import INDEX_NAME
from trainer.synth import SynthConfig, generate_synthetic_cache
from trainer.synth import anatomy as A
from trainer.synth.fields import geodesic_dilate
from trainer.synth.render import CONTRASTS, RenderConfig, class_means
from trainer.synth.tumour import Lesion, _box, paint_lesion


def test_growth_in_open_tissue_is_rounded_not_a_cube() -> None:
    seed = torch.zeros(41, 41, 41, dtype=torch.bool)
    seed[20, 20, 20] = True
    grown = geodesic_dilate(seed, torch.ones_like(seed), 12)
    assert grown[32, 20, 20] and grown[20, 20, 8]  # 12 voxels along an axis
    assert not grown[32, 32, 32] and not grown[31, 31, 31]  # a cube's corner, 19-21 voxels away
    offsets = grown.nonzero().float() - 20
    assert offsets.norm(dim=1).max() < 12 * 1.25  # within 25 % of a ball


def test_growth_stays_in_the_allowed_tissue() -> None:
    seed = torch.zeros(20, 20, 20, dtype=torch.bool)
    seed[5, 10, 10] = True
    allowed = torch.ones_like(seed)
    allowed[8] = False  # a wall across the first axis
    grown = geodesic_dilate(seed, allowed, 10)
    assert not grown[8:].any() and grown[:8].sum() > 50


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_oedema_is_not_cut_by_the_lesions_box(seed: int) -> None:
    # sized so that the box (and so the largest oedema the random factors allow) fits inside the volume
    tissue = torch.full((128, 128, 128), A.WM, dtype=torch.uint8)
    lesion = Lesion("glioblastoma", (64.0, 64.0, 64.0), 8.0, (1.25, 0.8, 1.1), 0.6, 12.0, 0.0, 0.2)
    paint_lesion(tissue, lesion, torch.Generator().manual_seed(seed))
    box = _box(lesion, tuple(tissue.shape))
    painted = (tissue != A.WM).nonzero()
    assert len(painted) > 1000
    for axis, window in enumerate(box):
        assert 0 < window.start and window.stop < tissue.shape[axis]
        assert window.start < painted[:, axis].min() and painted[:, axis].max() < window.stop - 1  # no box face
    oedema = (tissue == A.OEDEMA).numpy()
    # No flat faces: a box-cut oedema fills its outermost slab; a rounded one touches it in a small patch only.
    for axis in range(3):
        extent = np.nonzero(oedema.any(axis=tuple(a for a in range(3) if a != axis)))[0]
        outermost = np.take(oedema, extent[-1], axis=axis).sum()
        widest = max(np.take(oedema, i, axis=axis).sum() for i in extent)
        assert outermost < 0.15 * widest


def test_a_cache_never_mixes_generator_versions(tmp_path: Path) -> None:
    anatomy_dir = tmp_path / "anatomy"
    anatomy_dir.mkdir()
    head = tiny_head()
    np.savez_compressed(anatomy_dir / "tiny.npz", tissue=head.tissue, parts=head.parts)
    cache = tmp_path / "cache"
    generate_synthetic_cache(anatomy_dir, cache, n=1, seed=4, config=SynthConfig(shape=(72, 80, 64)))
    index_file = cache / INDEX_NAME
    index = json.loads(index_file.read_text())
    entries = index.get("cases", index)
    for entry in entries.values():
        entry["source"] = entry["source"].replace("synthetic-v2.3", "synthetic-v2.2")  # an older version's cache
    index_file.write_text(json.dumps(index))
    with pytest.raises(ValueError, match="another generator version"):
        generate_synthetic_cache(anatomy_dir, cache, n=2, seed=4, config=SynthConfig(shape=(72, 80, 64)))


@pytest.mark.parametrize("seed", [0, 1])
def test_oedema_stays_in_the_cores_hemisphere(seed: int) -> None:
    """White matter spans both hemispheres (as the corpus callosum joins them); the oedema of a lesion near the
    midline fills the left side only when the hemisphere flags are given, and crosses without them."""
    tissue = torch.full((128, 128, 128), A.WM, dtype=torch.uint8)
    parts = torch.full_like(tissue, A.PART_LEFT)
    parts[64:] = A.PART_RIGHT
    lesion = Lesion("glioblastoma", (52.0, 64.0, 64.0), 8.0, (1.0, 1.0, 1.0), 0.5, 16.0, 0.0, 0.2)
    with_sides = tissue.clone()
    paint_lesion(with_sides, lesion, torch.Generator().manual_seed(seed), parts)
    assert (with_sides[:64] == A.OEDEMA).sum() > 1000 and not (with_sides[64:] == A.OEDEMA).any()
    without = tissue.clone()
    paint_lesion(without, lesion, torch.Generator().manual_seed(seed))
    assert (without[64:] == A.OEDEMA).sum() > 100


def test_oedema_and_non_enhancing_tumour_outshine_all_normal_parenchyma_on_t2_and_flair() -> None:
    config = RenderConfig()
    for seed in range(200):
        generator = torch.Generator().manual_seed(seed)
        for contrast in (CONTRASTS.index("t2"), CONTRASTS.index("flair")):
            means = class_means(contrast, generator, config)
            brightest = max(float(means[c]) for c in (A.WM, A.CORTEX, A.CEREBELLAR_GM, A.DEEP_GM, A.PALLIDUM))
            for hyperintense in (A.OEDEMA, A.NON_ENHANCING):
                assert means[hyperintense] >= brightest * (1 + config.oedema_contrast) * (1 - 1e-6)
