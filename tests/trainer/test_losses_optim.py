"""Region loss (Dice + BCE, deep supervision), learning-rate schedules, optimisers and the EMA."""

from __future__ import annotations

import pytest
import torch

from trainer.config import TrainConfig
from trainer.losses import RegionLoss, region_targets, soft_dice_loss
from trainer.optim import WeightEMA, build_optimizer, learning_rate


def _label() -> torch.Tensor:
    label = torch.zeros(2, 8, 8, 8, dtype=torch.uint8)
    label[:, 2:6, 2:6, 2:6] = 2
    label[:, 3:5, 3:5, 3:5] = 1
    label[:, 3, 3, 3] = 4
    return label


def test_region_targets_nest_et_tc_wt() -> None:
    targets = region_targets(_label())
    assert targets.shape == (2, 3, 8, 8, 8)
    et, tc, wt = targets[:, 0], targets[:, 1], targets[:, 2]
    assert int(et.sum()) == 2 and int(tc.sum()) == 2 * 8 and int(wt.sum()) == 2 * 64
    assert bool((et <= tc).all() and (tc <= wt).all())


def test_perfect_logits_give_near_zero_loss_and_wrong_ones_a_large_loss() -> None:
    targets = region_targets(_label())
    perfect = (targets * 2 - 1) * 20
    assert float(soft_dice_loss(perfect, targets)) < 1e-6
    loss = RegionLoss()
    assert float(loss(perfect, _label())) < 1e-6
    assert float(loss(-perfect, _label())) > 10


def test_deep_supervision_weights_lower_resolution_outputs() -> None:
    targets = region_targets(_label())
    perfect = (targets * 2 - 1) * 20
    wrong_low_res = torch.full((2, 3, 4, 4, 4), -20.0)
    loss = RegionLoss(deep_supervision_decay=0.5)
    combined = float(loss([perfect, wrong_low_res], _label()))
    low_alone = float(loss.single(wrong_low_res, torch.nn.functional.interpolate(targets, size=(4, 4, 4))))
    assert combined == pytest.approx(low_alone * 0.5 / 1.5, rel=1e-5)


def test_schedules() -> None:
    poly = TrainConfig(lr=1.0, warmup_steps=10, schedule="poly")
    assert learning_rate(0, 110, poly) == pytest.approx(0.1)
    assert learning_rate(9, 110, poly) == pytest.approx(1.0)
    assert learning_rate(60, 110, poly) == pytest.approx(0.5**0.9)
    assert learning_rate(110, 110, poly) == pytest.approx(0.0)
    cosine = TrainConfig(lr=1.0, warmup_steps=0, schedule="cosine")
    assert learning_rate(50, 100, cosine) == pytest.approx(0.5)
    assert learning_rate(100, 100, cosine) == pytest.approx(0.0, abs=1e-12)
    assert learning_rate(77, 100, TrainConfig(lr=0.3, warmup_steps=0, schedule="constant")) == 0.3


@pytest.mark.parametrize(("name", "kind"), [("adamw", torch.optim.AdamW), ("rmsprop", torch.optim.RMSprop),
                                            ("sgd", torch.optim.SGD)])
def test_optimizers(name: str, kind: type) -> None:
    model = torch.nn.Linear(3, 1)
    optimizer = build_optimizer(model, TrainConfig(optimizer=name))
    assert isinstance(optimizer, kind)
    if name == "sgd":
        assert optimizer.param_groups[0]["nesterov"] is True


def test_ema_moves_towards_the_weights() -> None:
    model = torch.nn.Linear(2, 1)
    ema = WeightEMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    before = (model.weight - ema.model.weight).detach().abs().sum()
    for _ in range(20):
        ema.update(model)
    after = (model.weight - ema.model.weight).detach().abs().sum()
    assert float(after) < 1e-4 * float(before) and ema.updates == 20
    restored = WeightEMA(model, decay=0.5)
    restored.load_state_dict(ema.state_dict())
    assert torch.equal(restored.model.weight, ema.model.weight) and restored.updates == 20


def test_ema_update_is_the_running_average_of_every_tensor() -> None:
    """The fused update against the formula, tensor by tensor: float parameters and buffers are averaged, integer
    buffers (BatchNorm's step count) copied, and a state loaded in place keeps the EMA tracking the same model."""
    model = torch.nn.Sequential(torch.nn.Conv3d(2, 3, 3), torch.nn.BatchNorm3d(3), torch.nn.Linear(4, 2))
    ema = WeightEMA(model, decay=0.9)
    expected = {name: value.clone() for name, value in ema.model.state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    for step in range(1, 6):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn(parameter.shape, generator=generator))
            model[1].running_mean.add_(1.0)
            model[1].num_batches_tracked.add_(1)
        ema.update(model)
        decay = min(0.9, (1 + step) / (10 + step))
        for name, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                expected[name] = expected[name] * decay + value * (1 - decay)
            else:
                expected[name] = value.clone()
    for name, value in ema.model.state_dict().items():
        torch.testing.assert_close(value, expected[name], msg=name)
    assert int(ema.model[1].num_batches_tracked) == 5
    before = ema.model[2].weight.clone()
    model.load_state_dict({name: value + 1 if value.dtype.is_floating_point else value  # copied in place
                           for name, value in model.state_dict().items()})
    ema.update(model)
    decay = min(0.9, 7 / 16)
    torch.testing.assert_close(ema.model[2].weight, before * decay + model[2].weight * (1 - decay))
