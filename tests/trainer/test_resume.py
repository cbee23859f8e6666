"""Exact resume: stop after N steps, resume from the state file, and the next losses equal an uninterrupted run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_checkpoint
from trainer.config import load_config
from trainer.loop import Trainer, worker_context

TINY_CPU = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "tiny-cpu.toml"

# Augmentation on (every transform likely), so the patch stream's determinism is part of what is checked.
RESUME_OVERRIDES = [
    "patches_per_epoch=8", "epochs=2", "state_every_steps=1", "augment=true", "p_rotate_scale=0.5",
    "p_gamma=0.5", "p_noise=0.5", "p_blur=0.5", "p_lowres=0.5", "p_intensity=0.5", "ema_decay=0.9",
    "val_every=2",
]


@pytest.mark.parametrize("stop_at", [6, 4])  # mid-epoch kill, and a stop right after an epoch end
def test_resumed_run_matches_uninterrupted_run(tiny_phantom_dir: Path, tmp_path: Path, stop_at: int) -> None:
    config = load_config(TINY_CPU, RESUME_OVERRIDES)
    full = Trainer(config, tiny_phantom_dir, tmp_path / "full", cache_dir=tmp_path / "cache")
    full.run()
    stopped = Trainer(config, tiny_phantom_dir, tmp_path / "split", cache_dir=tmp_path / "cache")
    stopped.run(stop_at_step=stop_at)
    assert stopped.step == stop_at
    resumed = Trainer(config, tiny_phantom_dir, tmp_path / "split", resume=True, cache_dir=tmp_path / "cache")
    resumed.run()

    assert resumed.step == full.step == 8
    for step in range(stop_at, 8):
        assert resumed.history["step_loss"][str(step)] == pytest.approx(full.history["step_loss"][str(step)],
                                                                        abs=1e-6, rel=0)
    assert resumed.history["epochs"][-1]["train_loss"] == pytest.approx(full.history["epochs"][-1]["train_loss"],
                                                                        abs=1e-6)  # whole epoch, both halves
    for name, value in full.network.state_dict().items():
        torch.testing.assert_close(resumed.network.state_dict()[name], value, rtol=0, atol=1e-6)
    last_full = load_checkpoint(tmp_path / "full" / "checkpoint_last.safetensors")
    last_resumed = load_checkpoint(tmp_path / "split" / "checkpoint_last.safetensors")
    for name, value in last_full.state_dict.items():  # EMA weights (what checkpoints hold) agree too
        torch.testing.assert_close(last_resumed.state_dict[name], value, rtol=0, atol=1e-6)


def test_resume_without_state_is_refused(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    config = load_config(TINY_CPU, ["epochs=1"])
    with pytest.raises(ValueError, match="trainer_state.pt"):
        Trainer(config, tiny_phantom_dir, tmp_path / "run", resume=True).run()


def test_worker_processes_do_not_change_the_patches(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    overrides = ["patches_per_epoch=6", "epochs=1", "augment=true", "p_noise=1.0", "p_rotate_scale=1.0"]
    runs = []
    for workers in (0, 2):
        config = load_config(TINY_CPU, [*overrides, f"num_workers={workers}"])
        trainer = Trainer(config, tiny_phantom_dir, tmp_path / f"w{workers}", cache_dir=tmp_path / "cache")
        trainer.run()
        runs.append(trainer.history["step_loss"])
    assert runs[0].keys() == runs[1].keys() and len(runs[0]) == 3
    for step, loss in runs[0].items():
        assert runs[1][step] == pytest.approx(loss, abs=1e-6)


def test_time_budget_stops_early_validates_and_writes_checkpoints(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    config = load_config(TINY_CPU, ["patches_per_epoch=400", "epochs=5", "max_minutes=0.002"])  # 0.12 s
    trainer = Trainer(config, tiny_phantom_dir, tmp_path / "run", cache_dir=tmp_path / "cache")
    summary = trainer.run()
    assert 1 <= trainer.step < trainer.total_steps
    assert "val" in trainer.history["epochs"][-1]
    assert (tmp_path / "run" / "checkpoint_last.safetensors").is_file()
    assert (tmp_path / "run" / "checkpoint_best.safetensors").is_file()
    assert summary["steps"] == trainer.step


def test_time_budget_anneals_the_learning_rate() -> None:
    from trainer.optim import learning_rate

    config = load_config(TINY_CPU, ["warmup_steps=0", "schedule=poly", "lr=0.01"])
    assert learning_rate(10, 1000, config, time_progress=0.0) == pytest.approx(0.01 * (1 - 0.01) ** 0.9)
    assert learning_rate(10, 1000, config, time_progress=0.5) == pytest.approx(0.01 * 0.5 ** 0.9)
    assert learning_rate(10, 1000, config, time_progress=1.0) == 0.0


class _LockedDataset(torch.utils.data.Dataset):
    """Items need a module-level lock, as library code often does (a logger's, a cache's)."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> int:
        with _SHARED_LOCK:
            return index


_SHARED_LOCK = threading.Lock()


def test_patch_workers_do_not_inherit_a_lock_held_by_another_thread(tiny_phantom_dir: Path, tmp_path: Path) -> None:
    # A forked worker would copy the lock in its held state and wait forever; the trainer's workers start from
    # a fork server, so a thread of this process holding the lock while they start (and run) is harmless.
    config = load_config(TINY_CPU, ["num_workers=2", "epochs=1", "patches_per_epoch=2"])
    trainer = Trainer(config, tiny_phantom_dir, tmp_path / "run", cache_dir=tmp_path / "cache")
    trainer.on_train_start()
    assert trainer._loader(0, 1).multiprocessing_context.get_start_method() == "forkserver"
    acquired, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _SHARED_LOCK:
            acquired.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    acquired.wait(10)
    try:
        loader = torch.utils.data.DataLoader(_LockedDataset(), num_workers=2, timeout=60,
                                             multiprocessing_context=worker_context())
        assert sorted(int(item) for item in loader) == [0, 1]
    finally:
        release.set()
        holder.join()


def test_one_pool_of_patch_workers_serves_every_epoch(tiny_phantom_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # A loader per epoch restarted the workers at each epoch and starved the GPU meanwhile (round 7, H200).
    opened: list[tuple[int, int]] = []
    make_loader = Trainer._loader

    def counting_loader(self: Trainer, start: int, end: int):  # noqa: ANN202 - a DataLoader, as the original
        opened.append((start, end))
        return make_loader(self, start, end)

    monkeypatch.setattr(Trainer, "_loader", counting_loader)
    config = load_config(TINY_CPU, ["patches_per_epoch=4", "epochs=3", "num_workers=2", "val_every=2"])
    trainer = Trainer(config, tiny_phantom_dir, tmp_path / "run", cache_dir=tmp_path / "cache")
    trainer.run()
    assert opened == [(0, trainer.total_steps)]
    assert trainer.step == trainer.total_steps == 6
    assert [e["step"] for e in trainer.history["epochs"]] == [2, 4, 6]
    assert trainer.batches is None  # the workers were let go with the run
