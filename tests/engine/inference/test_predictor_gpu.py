"""CUDA-only checks of the predictor (skipped without a GPU): AMP stitching, memory-based plan, CPU agreement."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.inference.predictor import Predictor, PredictorConfig
from engine.model import build_network
from tests.engine.inference.helpers import TINY

pytestmark = pytest.mark.gpu


def test_cuda_prediction_matches_the_cpu_in_fp32() -> None:
    torch.manual_seed(0)
    network = build_network(TINY)
    volume = np.random.default_rng(0).normal(size=(4, 40, 44, 36)).astype(np.float32)
    config = PredictorConfig(tile=32, overlap=0.5, batch_size=2, amp=False)
    cpu = Predictor(network, replace(config, device="cpu")).predict(volume)
    gpu = Predictor(network, replace(config, device="cuda")).predict(volume)
    assert torch.allclose(torch.sigmoid(cpu), torch.sigmoid(gpu), atol=1e-3)


def test_auto_plan_on_cuda_uses_free_memory_and_amp_runs() -> None:
    torch.manual_seed(0)
    predictor = Predictor(build_network(TINY), PredictorConfig(device="cuda"))
    attempt = predictor.first_attempt()
    assert attempt.device.type == "cuda" and attempt.tile in (64, 96, 128, 160) and attempt.batch >= 1
    out = predictor.predict(np.zeros((4, 64, 64, 64), np.float32))
    assert out.shape == (3, 64, 64, 64) and torch.isfinite(out).all()


def test_cuda_graph_predictions_equal_eager_ones_and_release_frees_them() -> None:
    torch.manual_seed(0)
    network = build_network(TINY)
    volume = torch.randn(4, 40, 44, 36)
    config = PredictorConfig(tile=32, overlap=0.5, batch_size=3, device="cuda")
    eager = Predictor(network, replace(config, cuda_graphs=False)).predict(volume)
    graphed = Predictor(network, config)
    first, second = graphed.predict(volume), graphed.predict(volume)  # the second replays captured graphs
    assert graphed._graphed is not None and graphed._graphed.captured_shapes >= 1
    assert torch.allclose(first, eager, atol=1e-3) and torch.allclose(second, eager, atol=1e-3)
    graphed.release()
    assert graphed._graphed.captured_shapes == 0
    assert torch.allclose(graphed.predict(volume), eager, atol=1e-3)


def test_graphed_forward_sees_in_place_weight_updates() -> None:
    from engine.inference.graphs import GraphedForward

    torch.manual_seed(0)
    network = build_network(TINY).cuda().eval()
    batch = torch.randn(2, 4, 32, 32, 32, device="cuda")
    graphed = GraphedForward(network)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        graphed(batch), graphed(batch)  # warm-up, capture
        with torch.no_grad():
            for parameter in network.parameters():
                parameter.mul_(0.5)
        replayed = graphed(batch)
        assert graphed.captured_shapes == 1
        assert torch.allclose(replayed.float(), network(batch).float(), atol=2e-2)


def test_graphs_are_captured_again_after_the_network_moved() -> None:
    torch.manual_seed(0)
    network = build_network(TINY)
    volume = torch.randn(4, 40, 44, 36)
    config = PredictorConfig(tile=32, overlap=0.5, batch_size=3, device="cuda")
    predictor = Predictor(network, config)
    predictor.predict(volume), predictor.predict(volume)  # captured
    network.cpu()
    network.cuda()  # parameters at new addresses: replaying the old graphs would read freed memory
    expected = Predictor(network, replace(config, cuda_graphs=False)).predict(volume)
    first, second = predictor.predict(volume), predictor.predict(volume)
    assert torch.allclose(first, expected, atol=1e-3) and torch.allclose(second, expected, atol=1e-3)
