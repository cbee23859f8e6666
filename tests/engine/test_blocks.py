"""MBConv3d and its parts: shapes, norms, activations, SE, stochastic depth, zero init, autocast dtypes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.model.blocks import (
    DropPath,
    EagerDropout,
    GroupNorm3d,
    MBConv3d,
    SqueezeExcite3d,
    make_activation,
    make_norm,
)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(expansion=1, se_ratio=0.0, norm="instance", activation="relu"),
        dict(expansion=2, kernel_size=5, norm="batch", activation="gelu"),
        dict(norm="none", activation="mish", dropout=0.1, drop_path=0.1),
        dict(norm="group", norm_groups=3, activation="leaky_relu"),
    ],
)
def test_mbconv_keeps_shape(options: dict) -> None:
    torch.manual_seed(0)
    block = MBConv3d(6, **options).train()
    x = torch.randn(2, 6, 7, 5, 6)
    y = block(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    assert all(p.grad is not None for p in block.parameters())


@pytest.mark.parametrize("kernel", [3, 5])
def test_receptive_field_is_the_depthwise_kernel(kernel: int) -> None:
    """Without global ops (SE, norms) one voxel influences exactly its kernel // 2 neighbourhood."""
    torch.manual_seed(1)
    block = MBConv3d(4, kernel_size=kernel, se_ratio=0.0, norm="none").eval()
    x = torch.randn(1, 4, 9, 9, 9)
    x_changed = x.clone()
    x_changed[0, :, 4, 4, 4] += 1.0
    changed = ((block(x_changed) - block(x)).abs().amax(dim=(0, 1)) > 1e-7).nonzero()
    reach = kernel // 2
    assert changed.min().item() == 4 - reach and changed.max().item() == 4 + reach


def test_block_structure_follows_the_issue() -> None:
    block = MBConv3d(8, expansion=4, kernel_size=3, se_ratio=0.25)
    assert block.expand.weight.shape == (32, 8, 1, 1, 1)
    assert block.depthwise.groups == 32 and block.depthwise.kernel_size == (3, 3, 3)
    assert isinstance(block.se, SqueezeExcite3d) and block.se.reduce.out_features == 2
    assert block.project.weight.shape == (8, 32, 1, 1, 1)
    assert isinstance(block.norm1, GroupNorm3d) and isinstance(block.act1, nn.SiLU)
    assert block.expand.bias is None  # followed by a norm: a bias would be redundant


def test_zero_init_makes_the_branch_output_zero() -> None:
    x = torch.randn(1, 4, 5, 5, 5)
    assert MBConv3d(4, zero_init=True)(x).abs().max() == 0
    assert MBConv3d(4, zero_init=True, norm="none")(x).abs().max() == 0
    assert MBConv3d(4, zero_init=False)(x).abs().max() > 0


def test_group_norm_group_count_divides_channels_and_default_works_at_batch_one() -> None:
    assert make_norm("group", 12, 8).num_groups == 4
    assert make_norm("instance", 6, 8).num_groups == 6
    norm = make_norm("group", 16, 8).train()
    y = norm(torch.randn(1, 16, 3, 3, 3))
    assert torch.allclose(y.mean(dim=(2, 3, 4)).view(8, 2).mean(1), torch.zeros(8), atol=1e-5)


@pytest.mark.parametrize("factory, name", [(make_norm, "layer"), (make_activation, "swish")])
def test_unknown_names_are_refused(factory, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        factory(name, 8, 8) if factory is make_norm else factory(name)


def test_group_norm_keeps_bf16_under_autocast_and_matches_fp32() -> None:
    torch.manual_seed(1)
    norm = GroupNorm3d(4, 16)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    x = torch.randn(1, 16, 6, 6, 6) * 3 + 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = norm(x.bfloat16())
    assert y.dtype == torch.bfloat16
    expected = nn.functional.group_norm(x.bfloat16().float(), 4, norm.weight, norm.bias, norm.eps)
    assert ((y.float() - expected).norm() / expected.norm()) < 1e-2


def test_se_scales_channels_by_a_gate_in_zero_one() -> None:
    torch.manual_seed(2)
    se = SqueezeExcite3d(6, 2, "silu")
    x = torch.rand(2, 6, 4, 4, 4) + 0.1
    ratio = se(x) / x
    assert torch.allclose(ratio, ratio[..., :1, :1, :1].expand_as(ratio), atol=1e-6)  # one gate per channel
    assert ((ratio > 0) & (ratio < 1)).all()


def test_drop_path_drops_whole_samples_in_training_only() -> None:
    torch.manual_seed(3)
    drop = DropPath(0.5)
    x = torch.ones(64, 2, 3, 3, 3)
    y = drop.train()(x)
    per_sample = y.view(64, -1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()
    assert torch.equal(drop.eval()(x), x)


def test_randomness_flag_and_eager_dropout() -> None:
    assert not MBConv3d(4).has_randomness
    assert MBConv3d(4, dropout=0.1).has_randomness and MBConv3d(4, drop_path=0.1).has_randomness
    dropout = EagerDropout(0.5).train()
    torch.manual_seed(4)
    first = dropout(torch.ones(1000))
    torch.manual_seed(4)
    assert torch.equal(first, dropout(torch.ones(1000)))
    assert 300 < int((first == 0).sum()) < 700


def test_rowwise_group_norm_matches_group_norm_with_exact_gradients() -> None:
    """The grid-parallel group norm used on CUDA for big volumes: same values and gradients (float64)."""
    from engine.model.norm import rowwise_group_norm

    torch.manual_seed(5)
    x = (torch.randn(2, 6, 4, 3, 5, dtype=torch.float64) * 2 + 3).requires_grad_(True)
    weight = torch.rand(6, dtype=torch.float64).add_(0.5).requires_grad_(True)
    bias = torch.randn(6, dtype=torch.float64, requires_grad=True)
    expected = nn.functional.group_norm(x, 3, weight, bias, 1e-5)
    assert torch.allclose(rowwise_group_norm(x, weight, bias, 3, 1e-5), expected, atol=1e-10)
    assert torch.autograd.gradcheck(lambda a, w, b: rowwise_group_norm(a, w, b, 3, 1e-5), (x, weight, bias))


@pytest.mark.gpu
def test_group_norm_fast_cuda_path_matches_fp32_group_norm() -> None:
    from engine.model import norm as norm_module

    torch.manual_seed(6)
    norm = GroupNorm3d(8, 64).cuda()
    x = torch.randn(1, 64, 64, 64, 64, device="cuda") * 2 + 1
    assert x.numel() // 8 >= norm_module.FAST_ROW_ELEMENTS
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = norm(x.bfloat16())
    assert y.dtype == torch.bfloat16 and y.grad_fn is not None and "Rowwise" in type(y.grad_fn).__name__
    expected = nn.functional.group_norm(x.bfloat16().float(), 8, norm.weight, norm.bias, norm.eps)
    assert ((y.float() - expected).norm() / expected.norm()) < 1e-2
