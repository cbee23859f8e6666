"""The U-Net: config round trip and validation, odd sizes (pad + crop), heads, skips, deep supervision,
layout variants, execution modes, parameter / FLOP counting."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from engine.model import RevSegUNet, UNetConfig, build_network, count_parameters, model_cost


def tiny(**changes: object) -> UNetConfig:
    base = dict(base_width=8, width_multipliers=(1, 2, 3), encoder_blocks=(1, 1, 1), decoder_blocks=(1, 1),
                norm_groups=4, zero_init_residual=False)
    base.update(changes)
    return UNetConfig(**base)


def test_config_round_trips_through_json() -> None:
    config = tiny(skip="concat", deep_supervision=2, dropout=0.1, width_multipliers=(1, 1.5, 2.5))
    text = json.dumps(config.to_dict())
    restored = UNetConfig.from_dict(json.loads(text))
    assert restored == config
    assert restored.widths == (8, 12, 20)
    assert isinstance(restored.encoder_blocks, tuple)


def test_unknown_config_keys_are_refused_with_their_names() -> None:
    data = tiny().to_dict() | {"levelz": 3, "colour": "red"}
    with pytest.raises(ValueError, match=r"unknown UNetConfig key\(s\) \['colour', 'levelz'\]"):
        UNetConfig.from_dict(data)
    with pytest.raises(ValueError, match="needs a dict"):
        UNetConfig.from_dict([("base_width", 8)])


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(base_width=9, width_multipliers=(1, 2, 3)), "even integer"),
        (dict(encoder_blocks=(1, 1)), "encoder_blocks must have 3 entries"),
        (dict(decoder_blocks=(1, 0)), "decoder_blocks"),
        (dict(norm="layer"), "norm must be one of"),
        (dict(head="tanh"), "head must be one of"),
        (dict(dropout=1.0), "dropout"),
        (dict(deep_supervision=3), "deep_supervision must be <= 2"),
        (dict(deep_supervision=2, stem_stride=1), "deep_supervision must be <= 1"),
        (dict(head="softmax", out_channels=1), "softmax head needs out_channels >= 2"),
        (dict(kernel_size=4), "kernel_size"),
        (dict(stem_kernel=2, stem_stride=1), "stem_kernel=2 needs stem_stride=2"),
        (dict(reversible="yes"), "reversible must be true or false"),
        (dict(base_width=True), "base_width"),
    ],
)
def test_invalid_configs_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tiny(**changes)


def test_build_network_needs_a_config() -> None:
    with pytest.raises(ValueError, match="UNetConfig"):
        build_network({"base_width": 8})


@pytest.mark.parametrize("stem_stride", [1, 2])
@pytest.mark.parametrize("spatial", [(16, 16, 16), (17, 13, 9), (5, 23, 11)])
def test_odd_sizes_are_padded_and_cropped_back(stem_stride: int, spatial: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = build_network(tiny(stem_stride=stem_stride)).eval()
    x = torch.randn(1, 4, *spatial)
    with torch.no_grad():
        y = model(x)
        multiple = model.config.size_multiple
        padded = F.pad(x, [p for s in reversed(spatial) for p in (0, (-s) % multiple)])
        expected = model(padded)[..., : spatial[0], : spatial[1], : spatial[2]]
    assert y.shape == (1, 3, *spatial)
    assert torch.equal(y, expected)


def test_deep_supervision_outputs_in_training_mode_only() -> None:
    model = build_network(tiny(deep_supervision=2)).train()
    outputs = model(torch.randn(2, 4, 17, 16, 9))
    assert [tuple(o.shape) for o in outputs] == [(2, 3, 17, 16, 9), (2, 3, 9, 8, 5), (2, 3, 5, 4, 3)]
    sum(o.sum() for o in outputs).backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.eval()(torch.randn(1, 4, 8, 8, 8)).shape == (1, 3, 8, 8, 8)


def test_deep_supervision_with_full_resolution_level_zero() -> None:
    model = build_network(tiny(deep_supervision=1, stem_stride=1)).train()
    assert [tuple(o.shape) for o in model(torch.randn(1, 4, 8, 8, 8))] == [(1, 3, 8, 8, 8), (1, 3, 4, 4, 4)]


def test_softmax_head_gives_label_probabilities() -> None:
    model = build_network(tiny(head="softmax", out_channels=4)).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 4, 8, 8, 8))
    probabilities = model.activate(logits)
    assert logits.shape == (1, 4, 8, 8, 8)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(1, 8, 8, 8), atol=1e-6)
    regions = build_network(tiny()).activate(logits[:, :3])
    assert torch.equal(regions, torch.sigmoid(logits[:, :3]))


@pytest.mark.parametrize("variant", [dict(skip="add"), dict(skip="concat"), dict(downsample="pool", upsample="trilinear")])
def test_layout_variants_run_and_train(variant: dict) -> None:
    torch.manual_seed(1)
    model = build_network(tiny(**variant)).train()
    x = torch.randn(1, 4, 8, 8, 8)
    model(x).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    has_fuse = any(name.startswith("fuses.") for name, _ in model.named_parameters())
    assert has_fuse == (variant.get("skip") == "concat")


def test_execution_modes_switch_without_touching_weights() -> None:
    model = build_network(tiny(reversible=False))
    assert model.execution_mode == "plain"
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert model.set_reversible(True).execution_mode == "reversible"
    assert model.set_execution_mode("checkpoint").execution_mode == "checkpoint"
    assert all(s.mode == "checkpoint" for s in model.sequences())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="unknown execution mode"):
        model.set_execution_mode("fast")


def test_channels_last_gives_the_same_result() -> None:
    torch.manual_seed(2)
    standard = build_network(tiny()).train()
    channels_last = build_network(tiny(channels_last=True)).train()
    channels_last.load_state_dict(standard.state_dict())
    assert channels_last.stem.weight.is_contiguous(memory_format=torch.channels_last_3d)
    x = torch.randn(1, 4, 8, 8, 8)
    outputs = []
    for model in (standard, channels_last):
        y = model(x)
        y.square().mean().backward()
        outputs.append((y.detach(), model.stem.weight.grad.clone()))
    assert torch.allclose(outputs[0][0], outputs[1][0], atol=1e-5)
    assert torch.allclose(outputs[0][1], outputs[1][1], atol=1e-5)


def test_wrong_input_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(N, 4, D, H, W\)"):
        build_network(tiny())(torch.randn(1, 3, 8, 8, 8))


def test_parameter_and_flop_counts() -> None:
    config = tiny(se_ratio=0.0)  # SE acts on pooled 1x1x1 tensors: its FLOPs do not scale with volume
    cost = model_cost(config, (32, 32, 32))
    assert cost.parameters == count_parameters(build_network(config)) > 0
    assert model_cost(config, (64, 64, 64)).forward_flops == 8 * cost.forward_flops
    # a size that pads to 32^3 costs what 32^3 costs
    assert model_cost(config, (31, 29, 25)).forward_flops == cost.forward_flops
    assert cost.forward_gmacs == cost.forward_gflops / 2


def test_default_model_meets_the_size_target() -> None:
    config = UNetConfig()
    cost = model_cost(config, (128, 128, 128))
    assert cost.parameters >= 10_000_000
    assert config.size_multiple == 32 and config.head == "sigmoid" and config.out_channels == 3
    assert isinstance(build_network(config), RevSegUNet)
