"""Predictor: cancellation between tiles, progress per tile, out-of-memory fallback, device resolution."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from engine.errors import OperationCancelled
from engine.inference.predictor import (
    Attempt,
    Predictor,
    PredictorConfig,
    autocast_dtype,
    memory_plan,
    next_attempt,
    resolve_device,
)

OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


class Counting(torch.nn.Module):
    """Identity network that counts its calls and the batch sizes and tile shapes it saw."""

    def __init__(self, max_batch: int = 99, max_tile: int = 999) -> None:
        super().__init__()
        self.calls: list[tuple[int, ...]] = []
        self.max_batch, self.max_tile = max_batch, max_tile

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        if x.shape[0] > self.max_batch or max(x.shape[2:]) > self.max_tile:
            raise OOM("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
        return x.clone()


def test_progress_is_reported_per_tile() -> None:
    seen = []
    predictor = Predictor(Counting(), PredictorConfig(tile=8, overlap=0.5, device="cpu"))
    predictor.predict(np.zeros((1, 16, 8, 8), np.float32), progress=lambda s, d, t: seen.append((s, d, t)))
    assert seen == [("infer", i, 3) for i in range(4)]


def test_cancellation_stops_within_one_tile() -> None:
    network = Counting()
    predictor = Predictor(network, PredictorConfig(tile=8, overlap=0.5, device="cpu"))
    with pytest.raises(OperationCancelled):
        predictor.predict(np.zeros((1, 32, 32, 8), np.float32), cancel=lambda: len(network.calls) >= 2)
    assert len(network.calls) == 2  # of 49 tiles: the check after the second tile stopped it


def test_injected_oom_retries_smaller_batch_then_tile_and_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    network = Counting(max_batch=1, max_tile=12)
    volume = np.random.default_rng(0).normal(size=(1, 20, 20, 20)).astype(np.float32)
    predictor = Predictor(network, PredictorConfig(tile=16, overlap=0.5, batch_size=4, device="cpu", min_tile=4))
    with caplog.at_level(logging.WARNING, logger="engine.inference.predictor"):
        out = predictor.predict(volume)
    np.testing.assert_allclose(out.numpy(), volume, atol=1e-5)
    messages = [r.getMessage() for r in caplog.records]
    assert "tile 16 and batch 4" in messages[0] and "tile 16 and batch 2" in messages[0]
    assert "tile 16 and batch 1" in messages[1]
    assert "retrying with tile 12 and batch 1" in messages[2]
    assert predictor.last_attempt == Attempt(torch.device("cpu"), 12, 1)


def test_oom_fallback_ends_on_the_cpu_and_then_gives_up() -> None:
    cuda = Attempt(torch.device("cuda"), 64, 1)
    assert next_attempt(cuda, min_tile=64, multiple=32, cpu_tile=128) == Attempt(torch.device("cpu"), 128, 1)
    assert next_attempt(Attempt(torch.device("cpu"), 64, 1), 64, 32, 128) is None
    assert next_attempt(Attempt(torch.device("cuda"), 128, 1), 64, 32, 128) == Attempt(torch.device("cuda"), 96, 1)


def test_oom_everywhere_is_raised_after_the_last_step() -> None:
    predictor = Predictor(Counting(max_batch=0), PredictorConfig(tile=8, device="cpu", min_tile=8))
    with pytest.raises(OOM):
        predictor.predict(np.zeros((1, 8, 8, 8), np.float32))


def test_memory_plan_shrinks_with_free_memory() -> None:
    big_tile, big_batch = memory_plan(80 * 2**30, 32, None, None)
    small_tile, small_batch = memory_plan(1 * 2**30, 32, None, None)
    assert big_tile >= small_tile and big_batch >= small_batch >= 1
    assert memory_plan(80 * 2**30, 32, 100, 3) == (128, 3)  # the user's tile, rounded to the network's multiple


def test_devices_and_precision_on_this_machine() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert autocast_dtype(torch.device("cpu"), amp=True) is None
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ValueError):
        PredictorConfig(device="tpu")


def test_network_mode_is_restored_after_prediction() -> None:
    network = Counting()
    network.train()
    Predictor(network, PredictorConfig(tile=8, device="cpu")).predict(np.zeros((1, 8, 8, 8), np.float32))
    assert network.training and network.calls


def test_cpu_prediction_builds_no_cuda_graphs() -> None:
    torch.manual_seed(0)
    predictor = Predictor(Counting(), PredictorConfig(tile=16, batch_size=2, device="cpu"))
    assert predictor.config.cuda_graphs  # on by default: used where the device is CUDA
    predictor.predict(np.zeros((3, 20, 20, 20), np.float32))
    assert predictor._graphed is None
    predictor.release()  # nothing to drop: a no-op


def test_graphed_forward_passes_cpu_tensors_to_the_network() -> None:
    from engine.inference.graphs import GraphedForward

    calls = []
    graphed = GraphedForward(lambda x: calls.append(x) or x * 2)
    out = graphed(torch.ones(2, 3))
    assert torch.equal(out, torch.full((2, 3), 2.0)) and len(calls) == 1 and graphed.captured_shapes == 0


def test_an_out_of_memory_error_hidden_behind_a_failed_capture_is_found() -> None:
    from engine.inference.graphs import _out_of_memory_in

    oom = OOM("CUDA out of memory. Tried to allocate 2.00 GiB")
    try:
        try:
            raise oom
        except Exception:  # noqa: BLE001 - what ending a failed capture does: a new error during handling
            raise RuntimeError("operation failed due to a previous error during capture")  # noqa: B904
    except RuntimeError as ending:
        assert _out_of_memory_in(ending) is oom
    assert _out_of_memory_in(ValueError("no")) is None


def test_graphed_forward_notices_parameters_that_moved() -> None:
    from engine.inference.graphs import GraphedForward

    network = torch.nn.Conv3d(2, 2, 1)
    graphed = GraphedForward(network)
    before = graphed._storage()
    network.double()  # new tensors, as .cpu() and back to the GPU would give
    assert before and graphed._storage() != before
    assert GraphedForward(lambda x: x)._storage() == ()
