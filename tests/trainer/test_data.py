"""Data: case discovery, preprocessing cache round trip, split determinism, patch stream and its sharding."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from trainer.data import (
    build_cache,
    discover_cases,
    load_or_write_split,
    make_split,
    preprocess_case,
    read_index,
)
from trainer.sampling import PatchDataset, ResumableBatchSampler, pad_collate


def test_cache_round_trip(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    cases = build_cache(tiny_phantom_dir, tmp_path / "cache")
    assert [c.case_id for c in cases] == [p.name for p in discover_cases(tiny_phantom_dir)]
    image, label, spacing = preprocess_case(tiny_phantom_dir / cases[0].case_id)
    cached_image, cached_label = cases[0].load()
    assert cached_image.dtype == np.float16 and cached_image.shape == (4, *label.shape)
    np.testing.assert_array_equal(cached_image, image)
    np.testing.assert_array_equal(cached_label, label)
    assert cases[0].spacing == pytest.approx(spacing)
    assert cases[0].spacing == pytest.approx((2.0, 2.0, 2.0))
    brain = np.asarray(cached_image[1], np.float32)[np.asarray(cached_image[1]) != 0]
    assert abs(brain.mean()) < 0.05 and abs(brain.std() - 1) < 0.05  # z-scored inside the brain
    index = read_index(tmp_path / "cache")
    assert index[cases[0].case_id]["phantom"] and index[cases[0].case_id]["tumour_voxels"] == int((label > 0).sum())
    stamp = os.stat(cases[0].image_path).st_mtime_ns
    build_cache(tiny_phantom_dir, tmp_path / "cache")  # second call reuses the cache
    assert os.stat(cases[0].image_path).st_mtime_ns == stamp


def test_discovery_refuses_a_folder_without_cases(tmp_path: Path) -> None:
    (tmp_path / "empty_case").mkdir()
    with pytest.raises(ValueError, match="no labelled"):
        discover_cases(tmp_path)


def test_split_is_seeded_and_kfold_covers_every_case(tmp_path: Path) -> None:
    ids = [f"case{i:02d}" for i in range(10)]
    assert make_split(ids, seed=3) == make_split(list(reversed(ids)), seed=3)
    assert make_split(ids, seed=3) != make_split(ids, seed=4)
    plain = make_split(ids, val_fraction=0.2, seed=0)
    assert len(plain["val"]) == 2 and sorted(plain["train"] + plain["val"]) == ids
    folds = [make_split(ids, folds=5, fold=k, seed=0) for k in range(5)]
    assert sorted(c for f in folds for c in f["val"]) == ids
    assert all(not set(f["val"]) & set(f["train"]) for f in folds)
    path = tmp_path / "split.json"
    first = load_or_write_split(path, ids, val_fraction=0.2, folds=1, fold=0, seed=0)
    assert load_or_write_split(path, ids, val_fraction=0.5, folds=1, fold=0, seed=9) == first  # file wins
    assert json.loads(path.read_text())["settings"]["seed"] == 0


def test_patches_are_deterministic_and_foreground_oversampled(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    cases = build_cache(tiny_phantom_dir, tmp_path / "cache")
    dataset = PatchDataset(cases, (24, 24, 24), foreground_fraction=1.0, seed=5, augmentation=None)
    image, label = dataset[17]
    again_image, again_label = PatchDataset(cases, (24, 24, 24), 1.0, 5, None)[17]
    assert image.shape == (4, 24, 24, 24) and label.shape == (24, 24, 24)
    assert np.array_equal(image.numpy(), again_image.numpy()) and np.array_equal(label.numpy(), again_label.numpy())
    assert all(int((dataset[i][1] > 0).sum()) > 0 for i in range(8))  # every patch centred on tumour
    whole = PatchDataset(cases, (999, 999, 999), 0.0, 5, None)[0]  # patch larger than the volume: whole volume
    assert whole[1].shape == cases[0].shape


def test_sharded_sampler_equals_one_process_with_the_doubled_batch() -> None:
    single = list(ResumableBatchSampler(3, 6, batch_size=4, rank=0, world_size=1))
    ranks = [list(ResumableBatchSampler(3, 6, batch_size=2, rank=r, world_size=2)) for r in range(2)]
    for step, batch in enumerate(single):
        assert sorted(ranks[0][step] + ranks[1][step]) == batch
    assert len(ResumableBatchSampler(3, 6, 2)) == 3
    with pytest.raises(ValueError, match="rank"):
        ResumableBatchSampler(0, 1, 1, rank=2, world_size=2)


def test_pad_collate_pads_smaller_patches() -> None:
    import torch

    batch = [(torch.ones(4, 8, 8, 8), torch.ones(8, 8, 8, dtype=torch.uint8)),
             (torch.ones(4, 6, 8, 5), torch.ones(6, 8, 5, dtype=torch.uint8))]
    images, labels = pad_collate(batch)
    assert images.shape == (2, 4, 8, 8, 8) and labels.shape == (2, 8, 8, 8)
    assert float(images[1].sum()) == 4 * 6 * 8 * 5 and int(labels[1].sum()) == 6 * 8 * 5


def test_parallel_cache_equals_the_serial_cache(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    serial = build_cache(tiny_phantom_dir, tmp_path / "serial")
    parallel = build_cache(tiny_phantom_dir, tmp_path / "parallel", workers=2)
    assert [c.case_id for c in parallel] == [c.case_id for c in serial]
    for one, two in zip(serial, parallel, strict=True):
        for a, b in zip(one.load(), two.load(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert read_index(tmp_path / "parallel").keys() == read_index(tmp_path / "serial").keys()
