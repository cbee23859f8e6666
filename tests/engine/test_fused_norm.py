"""Fused group norm + SiLU (Triton): used only in CUDA inference, equal to PyTorch's group norm and SiLU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.model import build_network
from engine.model.blocks import GroupNorm3d, norm_then_activation
from engine.model.fused_norm import Switch, fused_applies, group_norm_silu
from tests.engine.inference.helpers import TINY

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the device machine)")


def test_not_used_on_the_cpu_or_while_training() -> None:
    x = torch.randn(1, 8, 4, 4, 4, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert not fused_applies(x)
    assert not fused_applies(x.float())
    norm, act = GroupNorm3d(4, 8), torch.nn.SiLU()
    torch.testing.assert_close(norm_then_activation(norm, act, x.float()), act(norm(x.float())))


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("shape,groups", [((2, 8, 6, 7, 5), 4), ((1, 32, 64, 64, 64), 8), ((4, 64, 16, 16, 16), 8)])
@pytest.mark.parametrize("silu", [True, False])
def test_equals_group_norm_then_silu(shape: tuple[int, ...], groups: int, silu: bool) -> None:
    torch.manual_seed(0)
    x = (torch.randn(shape, device="cuda") * 3 + 1).to(torch.bfloat16)
    weight, bias = torch.randn(shape[1], device="cuda"), torch.randn(shape[1], device="cuda")
    expected = F.group_norm(x.float(), groups, weight, bias, 1e-5)
    expected = F.silu(expected) if silu else expected
    got = group_norm_silu(x, weight, bias, groups, 1e-5, silu=silu)
    assert got.dtype == torch.bfloat16 and got.shape == x.shape
    torch.testing.assert_close(got.float(), expected, atol=3e-2, rtol=2e-2)


@pytest.mark.gpu
@cuda
def test_network_inference_with_and_without_the_fused_path_agrees() -> None:
    torch.manual_seed(0)
    network = build_network(TINY).cuda().eval()
    x = torch.randn(2, 4, 32, 32, 32, device="cuda")
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        assert fused_applies(x.to(torch.bfloat16))
        fused = network(x).float()
        Switch.enabled = False
        try:
            reference = network(x).float()
        finally:
            Switch.enabled = True
    torch.testing.assert_close(torch.sigmoid(fused), torch.sigmoid(reference), atol=3e-2, rtol=0)
