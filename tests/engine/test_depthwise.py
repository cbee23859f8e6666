"""DepthwiseConv3d: an nn.Conv3d everywhere, and on CUDA in inference mode the Triton kernel with equal results."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.model.depthwise import DepthwiseConv3d, depthwise3x3x3


def test_is_a_depthwise_conv3d_with_the_same_state_dict_keys_and_results_on_the_cpu() -> None:
    torch.manual_seed(0)
    layer = DepthwiseConv3d(6, bias=True)
    reference = torch.nn.Conv3d(6, 6, 3, padding=1, groups=6, bias=True)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(2, 6, 5, 7, 9)
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), reference(x))
    assert set(layer.state_dict()) == {"weight", "bias"}


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the device machine)")


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("shape", [(1, 3, 5, 7, 9), (2, 16, 33, 20, 130), (4, 32, 16, 16, 16)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_triton_kernel_equals_pytorch(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape, device="cuda", dtype=dtype)
    weight = torch.randn(shape[1], 1, 3, 3, 3, device="cuda", dtype=dtype)
    bias = torch.randn(shape[1], device="cuda", dtype=dtype)
    expected = F.conv3d(x.float(), weight.float(), bias.float(), padding=1, groups=shape[1])
    got = depthwise3x3x3(x, weight, bias)
    assert got.dtype == dtype
    tolerance = 1e-4 if dtype == torch.float32 else 3e-2
    torch.testing.assert_close(got.float(), expected, atol=tolerance, rtol=tolerance)


@pytest.mark.gpu
@cuda
def test_layer_uses_the_kernel_only_in_inference_mode_and_follows_autocast() -> None:
    torch.manual_seed(0)
    layer = DepthwiseConv3d(8).cuda()
    x = torch.randn(2, 8, 12, 12, 12, device="cuda")
    with torch.no_grad():
        assert not layer._triton_applies(x)  # training's no-grad forward keeps PyTorch's kernel (exact recompute)
    with torch.inference_mode():
        assert not layer._triton_applies(x)  # fp32 output: PyTorch's kernel
        with torch.autocast("cuda", dtype=torch.bfloat16):
            assert layer._triton_applies(x)
            fast = layer(x)
        DepthwiseConv3d.use_triton = False
        try:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                native = layer(x)
        finally:
            DepthwiseConv3d.use_triton = True
    assert fast.dtype == native.dtype == torch.bfloat16
    torch.testing.assert_close(fast.float(), native.float(), atol=3e-2, rtol=3e-2)


@pytest.mark.gpu
@cuda
def test_compiled_network_marked_by_the_predictor_runs_the_triton_operator() -> None:
    from engine.inference.predictor import Predictor, PredictorConfig
    from engine.model import build_network
    from tests.engine.inference.helpers import TINY

    torch.manual_seed(0)
    volume = torch.randn(4, 40, 44, 36)
    config = PredictorConfig(tile=32, overlap=0.5, batch_size=2, device="cuda", cuda_graphs=False)
    network = build_network(TINY)
    eager = Predictor(network, config).predict(volume)
    compiled = Predictor(network, PredictorConfig(tile=32, overlap=0.5, batch_size=2, device="cuda", compile=True))
    result = compiled.predict(volume)
    assert all(m.triton_when_compiled for m in network.modules() if isinstance(m, DepthwiseConv3d))
    torch.testing.assert_close(torch.sigmoid(result), torch.sigmoid(eager), atol=2e-2, rtol=0)


def test_the_compiled_operator_has_a_fake_kernel_for_tracing() -> None:
    x = torch.randn(1, 2, 4, 4, 4, device="meta", dtype=torch.bfloat16)
    out = torch.ops.revseg.depthwise3x3x3(x, torch.randn(2, 1, 3, 3, 3, device="meta"), None)
    assert out.shape == x.shape and out.dtype == torch.bfloat16 and out.device.type == "meta"
