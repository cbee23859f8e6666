"""The whole training step as one CUDA graph (trainer.graphed_step) and the capturable optimiser around it.

CPU tests cover when the trainer uses a graph and the optimiser's state moving between the two kinds of run; the
GPU tests check that a captured step trains exactly as the eager one does."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
import torch

from engine.model import UNetConfig, build_network
from trainer.config import TrainConfig, load_config
from trainer.graphed_step import GraphedStep, graph_unsupported_reason
from trainer.loop import Trainer
from trainer.optim import build_optimizer, match_capturable, set_learning_rate

TINY = dict(base_width=8, width_multipliers=(1, 2, 3), encoder_blocks=(1, 2, 1), decoder_blocks=(1, 1),
            norm_groups=4)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_graph_is_used_only_where_it_can_be_captured() -> None:
    config = TrainConfig()
    assert graph_unsupported_reason(config, torch.device("cuda"), 1) == ""
    assert "device cpu" in graph_unsupported_reason(config, torch.device("cpu"), 1)
    assert "DDP" in graph_unsupported_reason(config, torch.device("cuda"), 2)
    off = TrainConfig(cuda_graph=False)
    assert graph_unsupported_reason(off, torch.device("cuda"), 1) == "cuda_graph=false"
    assert "sgd" in graph_unsupported_reason(TrainConfig(optimizer="sgd"), torch.device("cuda"), 1)
    dropout = TrainConfig(model={"drop_path": 0.1})
    assert "drop path" in graph_unsupported_reason(dropout, torch.device("cuda"), 1)


def test_graphed_step_refuses_a_cpu_device() -> None:
    with pytest.raises(ValueError, match="CUDA device"):
        GraphedStep(lambda image, label: image.sum(), torch.device("cpu"))


def test_capturable_optimiser_is_adamw_only() -> None:
    network = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="adamw only"):
        build_optimizer(network, TrainConfig(optimizer="sgd"), capturable=True)
    optimizer = build_optimizer(network, TrainConfig(), capturable=True)
    rate = optimizer.param_groups[0]["lr"]
    assert isinstance(rate, torch.Tensor) and optimizer.param_groups[0]["capturable"]
    set_learning_rate(optimizer, 0.5)
    assert optimizer.param_groups[0]["lr"] is rate and float(rate) == 0.5  # filled in place, where a graph reads it


def _one_step(optimizer: torch.optim.Optimizer, network: torch.nn.Module) -> None:
    optimizer.zero_grad()
    network(torch.ones(1, 3)).sum().backward()
    optimizer.step()


def test_resume_state_of_a_graphed_run_loads_into_an_eager_run() -> None:
    torch.manual_seed(0)
    network = torch.nn.Linear(3, 2)
    eager = build_optimizer(network, TrainConfig())
    _one_step(eager, network)
    saved = eager.state_dict()
    # what a graphed run on CUDA saves: capturable, a tensor rate, step counts as float tensors
    saved["param_groups"][0].update(capturable=True, lr=torch.tensor(3e-4))
    resumed = build_optimizer(network, TrainConfig())
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["capturable"] is True  # what load_state_dict copies, and the CPU cannot run
    match_capturable(resumed, False)
    group = resumed.param_groups[0]
    assert group["capturable"] is False and isinstance(group["lr"], float) and group["lr"] == pytest.approx(3e-4)
    assert all(state["step"].device.type == "cpu" for state in resumed.state.values())
    _one_step(resumed, network)
    assert all(float(state["step"]) == 2 for state in resumed.state.values())


def test_eager_resume_state_becomes_capturable() -> None:
    network = torch.nn.Linear(3, 2)
    eager = build_optimizer(network, TrainConfig())
    _one_step(eager, network)
    resumed = build_optimizer(network, TrainConfig(), capturable=True)
    resumed.load_state_dict(eager.state_dict())
    match_capturable(resumed, True)
    group = resumed.param_groups[0]
    assert group["capturable"] is True and isinstance(group["lr"], torch.Tensor)
    assert all(state["step"].dtype == torch.float32 for state in resumed.state.values())


# ----------------------------------------------------------------------------------------------- GPU


def _pair(mode: str, compiled: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    first = build_network(UNetConfig(**TINY)).cuda().train()
    second = build_network(UNetConfig(**TINY)).cuda().train()
    second.load_state_dict(first.state_dict())
    for network in (first, second):
        network.set_execution_mode(mode)
        if compiled:
            network.compile_for_training()
    return first, second


def _step_function(network: torch.nn.Module, optimizer: torch.optim.Optimizer, graphed: bool):
    def step(image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=not graphed):
            logits = network(image)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), label)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        return loss.detach()
    return step


def _batches(count: int, shape: tuple[int, ...] = (1, 4, 32, 32, 32)) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    label_shape = (shape[0], 3, *shape[2:])
    return [(torch.randn(shape, generator=generator).cuda(),
             (torch.rand(label_shape, generator=generator) > 0.7).float().cuda()) for _ in range(count)]


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize(("mode", "compiled"), [("reversible", False), ("reversible", True), ("plain", False)])
def test_cuda_graphed_step_trains_as_the_eager_step(mode: str, compiled: bool) -> None:
    eager_net, graphed_net = _pair(mode, compiled)
    config = TrainConfig()
    eager_opt = build_optimizer(eager_net, config)
    graphed_opt = build_optimizer(graphed_net, config, capturable=True)
    eager_step = _step_function(eager_net, eager_opt, graphed=False)
    graphed = GraphedStep(_step_function(graphed_net, graphed_opt, graphed=True), torch.device("cuda"))
    batches = _batches(6) + _batches(1, (1, 4, 32, 32, 48))  # a last batch of another shape runs eagerly
    stop = threading.Event()
    copies = (torch.cuda.Stream(), torch.empty(1 << 21, device="cuda"))
    pinning = threading.Thread(target=_pin_memory_until, args=(stop, *copies))  # what a DataLoader's pin thread does
    pinning.start()
    try:
        for index, (image, label) in enumerate(batches):
            rate = 1e-3 * (1 - index / len(batches))  # a schedule: the graph must read the current rate
            set_learning_rate(eager_opt, rate)
            set_learning_rate(graphed_opt, rate)
            expected, got = eager_step(image, label), graphed(image, label)
            torch.testing.assert_close(got, expected, rtol=2e-3, atol=2e-4)
    finally:
        stop.set()
        pinning.join()
    assert graphed.captured and not graphed.disabled_reason
    assert graphed.replays == 4 and graphed.eager_steps == 3  # 2 warm-up, capture + 3 replays, 1 other shape
    for name, value in eager_net.state_dict().items():
        torch.testing.assert_close(graphed_net.state_dict()[name], value, rtol=2e-3, atol=2e-4, msg=name)


def _pin_memory_until(stop: threading.Event, stream: torch.cuda.Stream, destination: torch.Tensor) -> None:
    """What a DataLoader's pin thread and the copies of its batches do to the host allocator: pinned blocks of new
    sizes (cudaHostAlloc) and blocks freed after an asynchronous copy (an event to query before reuse). A capture in
    the default "global" mode forbids both in every thread: this made two real training runs fail (runs R34-R35)."""
    sizes = [1 << bits for bits in range(14, 22)]
    index = 0
    while not stop.is_set():
        pinned = torch.empty(sizes[index % len(sizes)], pin_memory=True)
        with torch.cuda.stream(stream):  # into memory allocated before the capture: no device allocation here
            destination[: pinned.numel()].copy_(pinned, non_blocking=True)
        index += 1
    stream.synchronize()


@pytest.mark.gpu
@cuda
def test_cuda_trainer_captures_its_step_and_resumes_without_the_graph(sphere_case_dir: Path, tmp_path: Path) -> None:
    data = sphere_case_dir
    tiny = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "tiny-cpu.toml"
    overrides = ["device=cuda", "amp=true", "num_workers=2", "epochs=2", "state_every_steps=1", "auto_patch_gib=0"]
    first = Trainer(load_config(tiny, overrides), data, tmp_path / "run", cache_dir=tmp_path / "cache")
    first.run(stop_at_step=6)  # pinned batches from 2 worker processes, while the step is captured
    assert first.graphed is not None and first.graphed.captured and not first.graphed.disabled_reason
    assert first.graphed.replays == 4  # steps 3-6; steps 1-2 warmed up eagerly
    assert all(math.isfinite(loss) for loss in first.history["step_loss"].values())
    # the resume state of a graphed run (capturable AdamW, tensor rate) loads into a run without the graph
    second = Trainer(load_config(tiny, [*overrides, "cuda_graph=false"]), data, tmp_path / "run",
                     resume=True, cache_dir=tmp_path / "cache")
    second.run()
    assert second.graphed is None and second.step == 8
    assert all(math.isfinite(loss) for loss in second.history["step_loss"].values())

