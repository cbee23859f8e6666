"""Training on a mix: several --data sources (a synthetic cache referenced in place plus case folders),
--val-data, the real-case share and heavier augmentation, pausing with --stop-after, and init_weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.checkpoint import load_checkpoint
from tests.trainer.conftest import tiny_phantom_arrays, write_tiny_case
from trainer.augment import AugmentConfig
from trainer.config import load_config
from trainer.data import build_training_cache, read_index, write_index
from trainer.loop import Trainer
from trainer.sampling import PatchDataset

TINY_CPU = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "tiny-cpu.toml"


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny cases that do not look like phantoms (so the trainer treats them as real)."""
    root = tmp_path_factory.mktemp("real")
    for seed in (21, 22):
        images, label = tiny_phantom_arrays(seed)
        write_tiny_case(root, f"Real-{seed}", images, label)
    return root


@pytest.fixture(scope="module")
def synth_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder as `trainer.synth` writes it: two cases marked synthetic."""
    root = tmp_path_factory.mktemp("synth")
    entries = {}
    for i, seed in enumerate((31, 32)):
        images, label = tiny_phantom_arrays(seed)
        image = np.stack([images[m] for m in ("t1", "t1ce", "t2", "flair")]).astype(np.float16)
        np.save(root / f"SynthV2-9-{i}_image.npy", image)
        np.save(root / f"SynthV2-9-{i}_label.npy", label)
        entries[f"SynthV2-9-{i}"] = {"image": f"SynthV2-9-{i}_image.npy", "label": f"SynthV2-9-{i}_label.npy",
                                     "shape": list(label.shape), "spacing": [2.0, 2.0, 2.0], "phantom": True,
                                     "source": "test", "tumour_voxels": int((label > 0).sum())}
    write_index(root, entries)
    return root


def test_a_synthetic_cache_is_referenced_in_place_and_case_folders_are_cached(
        tmp_path: Path, synth_cache: Path, real_dir: Path) -> None:
    cases = build_training_cache([synth_cache, real_dir], tmp_path / "cache")
    assert [c.case_id for c in cases] == ["Real-21", "Real-22", "SynthV2-9-0", "SynthV2-9-1"]
    index = read_index(tmp_path / "cache")
    assert Path(index["SynthV2-9-0"]["image"]) == (synth_cache / "SynthV2-9-0_image.npy").resolve()
    assert not (tmp_path / "cache" / "SynthV2-9-0_image.npy").exists()  # not copied
    assert [c.phantom for c in cases] == [False, False, True, True]


def test_the_same_case_in_two_sources_is_refused(tmp_path: Path, real_dir: Path) -> None:
    twin = tmp_path / "twin"
    images, label = tiny_phantom_arrays(21)
    write_tiny_case(twin, "Real-21", images, label)
    with pytest.raises(ValueError, match="unique"):
        build_training_cache([real_dir, twin], tmp_path / "cache")


def test_real_fraction_sets_the_share_of_real_patches(tmp_path: Path, synth_cache: Path, real_dir: Path) -> None:
    cases = build_training_cache([synth_cache, real_dir], tmp_path / "cache")
    dataset = PatchDataset(cases, (16, 16, 16), 0.0, seed=0, augmentation=None, real_fraction=0.3)
    draws = [dataset._draw_case(np.random.default_rng([0, i])) for i in range(2000)]
    real_share = np.mean([not cases[i].phantom for i in draws])
    assert real_share == pytest.approx(0.3, abs=0.04)
    uniform = PatchDataset(cases, (16, 16, 16), 0.0, seed=0, augmentation=None)
    assert np.mean([not cases[uniform._draw_case(np.random.default_rng([0, i]))].phantom
                    for i in range(2000)]) == pytest.approx(0.5, abs=0.04)


def test_heavier_augmentation_scales_probabilities_up_to_one() -> None:
    heavy = AugmentConfig(p_rotate_scale=0.25, p_gamma=0.3, p_bias=0.15).scaled(3.0)
    assert heavy.p_rotate_scale == pytest.approx(0.75) and heavy.p_gamma == pytest.approx(0.9)
    assert heavy.p_bias == pytest.approx(0.45) and heavy.p_noise == pytest.approx(0.3)
    assert AugmentConfig(p_gamma=0.5).scaled(3.0).p_gamma == 1.0


def test_val_data_validates_and_everything_else_trains(tmp_path: Path, synth_cache: Path, real_dir: Path) -> None:
    config = load_config(TINY_CPU, ["epochs=1", "patches_per_epoch=2", "real_fraction=0.5", "demo=true"])
    trainer = Trainer(config, [synth_cache], tmp_path / "run", val_dirs=[real_dir])
    summary = trainer.run()
    assert summary["data"]["val_cases"] == ["Real-21", "Real-22"]
    assert summary["data"]["train_cases"] == ["SynthV2-9-0", "SynthV2-9-1"]
    assert json.loads((tmp_path / "run" / "split.json").read_text())["val"] == ["Real-21", "Real-22"]


def test_stop_after_pauses_and_resume_finishes(tmp_path: Path, synth_cache: Path, real_dir: Path) -> None:
    config = load_config(TINY_CPU, ["epochs=2", "patches_per_epoch=8"])
    paused = Trainer(config, [synth_cache, real_dir], tmp_path / "run", stop_after_minutes=1e-9)
    summary = paused.run()
    assert summary["paused"] and paused.step == 1  # one step, then the pause
    assert (tmp_path / "run" / "trainer_state.pt").is_file()
    assert (tmp_path / "run" / "checkpoint_last.safetensors").is_file()
    resumed = Trainer(config, [synth_cache, real_dir], tmp_path / "run", resume=True)
    resumed.run()
    assert resumed.step == 8


def test_init_weights_start_from_a_checkpoint(tmp_path: Path, synth_cache: Path) -> None:
    first = Trainer(load_config(TINY_CPU, ["epochs=1", "patches_per_epoch=2"]), [synth_cache], tmp_path / "a")
    first.run()
    start = tmp_path / "a" / "checkpoint_last.safetensors"
    second = Trainer(load_config(TINY_CPU, ["epochs=1", "patches_per_epoch=2", f"init_weights='{start}'"]),
                     [synth_cache], tmp_path / "b")
    second.on_train_start()
    loaded = load_checkpoint(start).state_dict
    for name, tensor in second.network.state_dict().items():
        assert np.allclose(tensor.numpy(), loaded[name].float().numpy()), name
    wider = load_config(TINY_CPU, ["epochs=1", f"init_weights='{start}'", "model.base_width=16"])
    with pytest.raises(ValueError, match="another architecture"):
        Trainer(wider, [synth_cache], tmp_path / "c").on_train_start()
