"""`TrainConfig`: every training setting in one frozen dataclass, loaded from TOML with key=value overrides.

TOML layout: top-level keys are `TrainConfig` fields; the ``[model]`` table holds `engine.model.UNetConfig`
fields (anything not given keeps the UNetConfig default). Overrides on the command line use the same names,
with ``model.`` in front for architecture fields: ``epochs=2 patch_size=[64,64,64] model.base_width=16``.
Values are parsed as TOML values (so ``[64,64,64]``, ``true``, ``1e-3`` and ``"cosine"`` work; a bare word
that is not TOML is taken as a string).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.model import UNetConfig
from trainer.augment import AugmentConfig  # one source for the augmentation defaults

OPTIMIZERS = ("adamw", "rmsprop", "sgd")
SCHEDULES = ("poly", "cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """Training recipe.

    Attributes:
        model: UNetConfig fields that differ from the defaults (the network is `UNetConfig(**model)`).
        patch_size: training patch (D, H, W); each edge is clipped to the volume, so a large value means
            "whole volume". The reversible model makes large patches affordable.
        batch_size: patches per step per process (per GPU under torchrun).
        patches_per_epoch: patches drawn per epoch over all processes (the epoch length).
        epochs: number of epochs.
        foreground_fraction: share of patches centred on a tumour voxel (the rest: anywhere in the volume).
        augment: run the spatial and intensity augmentations (flips always when augment is on).
        p_rotate_scale, rotation_deg, scale_range: probability and ranges of the rotation / scaling.
        p_intensity, p_gamma, p_noise, p_blur, p_lowres: probabilities of the intensity augmentations.
        val_fraction: share of cases held out for validation (ignored when folds > 1).
        folds, fold: k-fold split (folds > 1) and which fold validates.
        split_seed: seed of the case shuffle of the split.
        optimizer: "adamw" (default), "rmsprop" (EfficientNet's choice) or "sgd" (Nesterov).
        lr, weight_decay, momentum: optimiser settings (momentum for SGD / RMSProp).
        schedule: "poly" (nnU-Net, exponent 0.9), "cosine" or "constant", after a linear warmup.
        warmup_steps: linear warmup length in optimiser steps.
        grad_clip: max gradient norm (0 disables).
        amp: bf16 autocast on CUDA (the CPU always trains in fp32).
        ema_decay: exponential moving average of the weights (0 disables); validation and checkpoints use it.
        dice_weight, bce_weight: weights of the soft-Dice and BCE terms.
        deep_supervision_decay: weight of each lower-resolution output relative to the one above it.
        val_every: validate every this many epochs (and always after the last).
        val_tile, val_overlap: sliding-window settings of validation.
        state_every_steps: also write the resume state every this many steps (0: only at epoch ends).
        num_workers: DataLoader worker processes (also the processes that build the preprocessing cache).
        auto_patch_gib: on CUDA, train with the largest cube (multiple of 32, up to the largest case edge) whose
            step fits in this many GiB, probed at start (``trainer.autopatch``); it replaces ``patch_size``.
            0 disables it; the CPU always uses ``patch_size``. With ``cuda_graph`` the probe keeps a margin for the
            graph's memory pool (``trainer.graphed_step.GRAPH_MEMORY_MARGIN``).
        compile_blocks: on CUDA (ignored on the CPU), compile the MBConv blocks (``RevSegUNet.compile_for_training``):
            the reversible network runs each branch as one compiled forward graph and one fused backward
            graph (recompute + vector-Jacobian product + inversion, ``engine.model.fused_backward``); the plain
            twin compiles its blocks as modules. On by default (issue 19); a graph that fails to compile is
            logged and runs eagerly. The first steps pay the compilations. ``compile_blocks=false``: eager.
        cuda_graph: on one CUDA device (not under DDP), with AdamW and no dropout / drop path, run the whole
            step (forward, loss, backward, clipping, optimiser) as one captured CUDA graph
            (``trainer.graphed_step``): at 128^3 the step is bound by the host's kernel launches, and a graph
            replays them with one call. The first steps of a patch shape run eagerly; a capture that fails is
            logged and training goes on without it. ``cuda_graph=false``: no graph.
        max_minutes: time budget of the training (0: none). The schedule then follows whichever of steps or
            time is further along, so the learning rate anneals by the deadline, and training stops at the
            first step past it, validating and writing checkpoints as after the last epoch. Runs with a
            budget are not step-for-step reproducible (the schedule depends on the clock).
        real_fraction: share of patches drawn from real (non-synthetic) cases when the data mixes both (a few
            real cases among hundreds of synthetic ones would otherwise be seen too rarely); 0 draws every
            case equally often.
        real_augment_scale: the augmentation probabilities are multiplied by this (capped at 1) for patches of
            real cases: the few real cases need heavier augmentation than generated ones.
        p_bias: probability of a smooth multiplicative bias field (per channel) in the augmentation.
        init_weights: checkpoint whose weights start the training (same architecture), e.g. the bundled demo
            weights; empty starts from random weights.
        seed: seed of everything random in training (patches, augmentation, initialisation).
        device: "auto", "cpu" or "cuda".
        demo: mark checkpoints as demo weights (NOT FOR CLINICAL USE); None: automatically when all cases
            are phantoms.
    """

    model: dict[str, Any] = field(default_factory=dict)
    patch_size: tuple[int, int, int] = (128, 128, 128)
    batch_size: int = 2
    patches_per_epoch: int = 250
    epochs: int = 100
    foreground_fraction: float = 1 / 3
    augment: bool = True
    p_rotate_scale: float = AugmentConfig.p_rotate_scale
    rotation_deg: float = AugmentConfig.rotation_deg
    scale_range: tuple[float, float] = AugmentConfig.scale_range
    p_intensity: float = AugmentConfig.p_intensity
    p_gamma: float = AugmentConfig.p_gamma
    p_noise: float = AugmentConfig.p_noise
    p_blur: float = AugmentConfig.p_blur
    p_lowres: float = AugmentConfig.p_lowres
    val_fraction: float = 0.2
    folds: int = 1
    fold: int = 0
    split_seed: int = 0
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.99
    schedule: str = "poly"
    warmup_steps: int = 50
    grad_clip: float = 12.0
    amp: bool = True
    ema_decay: float = 0.0
    dice_weight: float = 1.0
    bce_weight: float = 1.0
    deep_supervision_decay: float = 0.5
    val_every: int = 5
    val_tile: int = 128
    val_overlap: float = 0.5
    state_every_steps: int = 0
    num_workers: int = 2
    max_minutes: float = 0.0
    auto_patch_gib: float = 16.0
    compile_blocks: bool = True
    cuda_graph: bool = True
    real_fraction: float = 0.0
    real_augment_scale: float = 1.0
    p_bias: float = AugmentConfig.p_bias
    init_weights: str = ""
    seed: int = 0
    device: str = "auto"
    demo: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "patch_size", tuple(int(s) for s in self.patch_size))
        object.__setattr__(self, "scale_range", tuple(float(s) for s in self.scale_range))
        self._validate()
        self.unet_config()  # refuses unknown or invalid architecture fields now, not mid-training

    def _validate(self) -> None:
        if len(self.patch_size) != 3 or min(self.patch_size) < 8:
            raise ValueError(f"patch_size must be three edges >= 8 voxels, got {self.patch_size}")
        positive = {"batch_size": self.batch_size, "patches_per_epoch": self.patches_per_epoch,
                    "epochs": self.epochs, "val_every": self.val_every, "lr": self.lr}
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0.0 <= self.foreground_fraction <= 1.0 or not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("foreground_fraction must be in [0, 1] and ema_decay in [0, 1)")
        if self.folds > 1 and not 0 <= self.fold < self.folds:
            raise ValueError(f"fold must be in [0, {self.folds}), got {self.fold}")
        if not 0.0 <= self.real_fraction <= 1.0 or self.real_augment_scale < 0:
            raise ValueError("real_fraction must be in [0, 1] and real_augment_scale >= 0")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def unet_config(self) -> UNetConfig:
        """The network's architecture."""
        known = {f.name for f in dataclasses.fields(UNetConfig)}
        unknown = sorted(set(self.model) - known)
        if unknown:
            raise ValueError(f"unknown model settings {unknown}; UNetConfig fields are {sorted(known)}")
        return UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.model.items()})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples as lists)."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; valid names: {sorted(known)}")
        return cls(**values)


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return ``values`` updated by ``key=value`` strings (``model.KEY=value`` for architecture fields)."""
    values = {**values, "model": dict(values.get("model", {}))}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} is not key=value (e.g. epochs=10 or model.base_width=16)")
        key = key.strip()
        if key.startswith("model."):
            values["model"][key[len("model."):]] = _parse_value(text.strip())
        else:
            values[key] = _parse_value(text.strip())
    return values


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a TOML recipe (or start from the defaults) and apply ``key=value`` overrides.

    Args:
        path: TOML file, or None for the defaults.
        overrides: strings such as ``"epochs=3"`` or ``"model.base_width=8"``.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"config file {path} does not exist")
        try:
            values = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path} is not valid TOML: {error}") from error
    return TrainConfig.from_dict(apply_overrides(values, overrides or []))
