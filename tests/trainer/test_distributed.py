"""DDP plumbing in a single-process gloo group on the CPU: same losses as the plain run, reduced metrics."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from trainer.config import load_config
from trainer.distributed import all_reduce_mean, init_distributed, shutdown, wrap_model
from trainer.loop import Trainer

TINY_CPU = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "tiny-cpu.toml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gloo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)


def test_single_process_gloo_group(gloo_env: None) -> None:
    context = init_distributed("cpu")
    try:
        assert context.is_distributed and dist.get_backend() == "gloo" and context.is_main
        assert isinstance(wrap_model(torch.nn.Linear(2, 2), context), torch.nn.parallel.DistributedDataParallel)
        assert all_reduce_mean({"a": 2.0, "b": 4.0}, context) == {"a": 2.0, "b": 4.0}
    finally:
        shutdown(context)
    assert not dist.is_initialized()


def test_ddp_training_matches_the_plain_run(tiny_phantom_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(TINY_CPU, ["epochs=1", "patches_per_epoch=6"])
    plain = Trainer(config, tiny_phantom_dir, tmp_path / "plain", cache_dir=tmp_path / "cache")
    plain.run()
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)
    ddp = Trainer(config, tiny_phantom_dir, tmp_path / "ddp", cache_dir=tmp_path / "cache")
    try:
        ddp.run()
        assert isinstance(ddp.model, torch.nn.parallel.DistributedDataParallel)
    finally:
        shutdown(ddp.context)
    assert len(plain.history["step_loss"]) == 3
    for step, loss in plain.history["step_loss"].items():
        assert ddp.history["step_loss"][step] == pytest.approx(loss, abs=1e-6)
    assert ddp.history["epochs"][0]["val"] == pytest.approx(plain.history["epochs"][0]["val"], abs=1e-6)
