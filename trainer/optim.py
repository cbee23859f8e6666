"""Optimisers, learning-rate schedules, autocast choice and the EMA of weights.

The schedule is a pure function of the step (`learning_rate`), so resuming needs only the step number.
"""

from __future__ import annotations

import contextlib
import copy
import math

import torch
from torch import nn

from trainer.config import TrainConfig


def build_optimizer(model: nn.Module, config: TrainConfig, capturable: bool = False) -> torch.optim.Optimizer:
    """AdamW (default), RMSProp (EfficientNet's choice) or SGD with Nesterov momentum.

    ``capturable`` (AdamW only) builds an AdamW whose step count and learning rate are tensors on the parameters'
    device, so that a CUDA graph of the whole step (`trainer.graphed_step`) replays the schedule's current rate.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if capturable and config.optimizer != "adamw":
        raise ValueError(f"a capturable optimiser is built for adamw only, not {config.optimizer!r}")
    if config.optimizer == "adamw":
        if capturable:
            lr = torch.tensor(config.lr, dtype=torch.float32, device=params[0].device)
            return torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay, capturable=True, foreach=True)
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, weight_decay=config.weight_decay,
                                   momentum=min(config.momentum, 0.9), alpha=0.9, eps=1e-3)
    return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay, momentum=config.momentum,
                           nesterov=True)


def learning_rate(step: int, total_steps: int, config: TrainConfig, time_progress: float = 0.0) -> float:
    """Learning rate at optimiser ``step``: linear warmup, then poly (exponent 0.9), cosine or constant.

    ``time_progress`` (share of a time budget spent) advances the decay when it is ahead of the steps.
    """
    if config.warmup_steps > 0 and step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, total_steps - config.warmup_steps)
    progress = min(1.0, max(0.0, (step - config.warmup_steps) / span, time_progress))
    if config.schedule == "poly":
        return config.lr * (1.0 - progress) ** 0.9
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.lr


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's rate; a tensor rate (capturable AdamW) is filled in place, where a CUDA graph reads it."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def match_capturable(optimizer: torch.optim.Optimizer, capturable: bool) -> None:
    """After `load_state_dict`: the saved state may come from the other kind of run (with or without the whole-step
    CUDA graph), and loading copies its ``capturable`` flag, rate type and step-count device. Put back what this
    run's optimiser was built with: tensor rates and step counts on the parameters' device when capturable, plain
    floats and CPU step counts otherwise."""
    for group in optimizer.param_groups:
        if "capturable" not in group:
            continue
        group["capturable"] = capturable
        device = group["params"][0].device
        rate = float(group["lr"])
        group["lr"] = torch.tensor(rate, dtype=torch.float32, device=device) if capturable else rate
        for parameter in group["params"]:
            state = optimizer.state.get(parameter, {})
            if isinstance(state.get("step"), torch.Tensor):
                target = parameter.device if capturable else torch.device("cpu")
                state["step"] = state["step"].to(device=target, dtype=torch.float32)


def autocast_context(device: torch.device, enabled: bool, cache: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when enabled (no gradient scaler needed for bf16); fp32 elsewhere. ``cache=False``
    inside a CUDA graph capture, as PyTorch asks (the cast-weight cache must not outlive the capture)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


def clip_gradients(model: nn.Module, max_norm: float) -> torch.Tensor | None:
    """Clip the global gradient norm (0 disables); returns the norm before clipping as a tensor (None when
    disabled). It never waits for the GPU, so it can run inside a captured CUDA graph."""
    if max_norm <= 0:
        return None
    return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)


class WeightEMA:
    """Exponential moving average of a model's parameters and buffers (kept in fp32 on the model's device).

    Args:
        model: the bare network (not the DDP wrapper).
        decay: e.g. 0.999; the effective decay ramps up as min(decay, (1 + n) / (10 + n)).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self._source: nn.Module | None = None  # the model the pairs below were matched with
        self._averaged: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])  # (EMA's, model's) float tensors
        self._copied: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])  # integer buffers, copied as they are

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        if model is not self._source:
            self._match(model)
        # One fused kernel per dtype group instead of two per tensor: the default network has 521 tensors, so the
        # per-tensor loop cost about 1,000 kernel launches of host time after every (graphed) training step.
        torch._foreach_lerp_(*self._averaged, 1.0 - decay)
        for target, value in zip(*self._copied, strict=True):
            target.copy_(value)

    def _match(self, model: nn.Module) -> None:
        """Pair the EMA's tensors with the model's by name, once per model: the optimiser and `load_state_dict`
        update the model's tensors in place, so the pairs stay valid."""
        source = model.state_dict(keep_vars=True)
        self._averaged, self._copied = ([], []), ([], [])
        for name, value in self.model.state_dict(keep_vars=True).items():
            pairs = self._averaged if value.dtype.is_floating_point else self._copied
            pairs[0].append(value.detach())
            pairs[1].append(source[name].detach())
        self._source = model

    def state_dict(self) -> dict:
        return {"updates": self.updates, "weights": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.updates = int(state["updates"])
        self.model.load_state_dict(state["weights"])
