"""`UNetConfig`: the frozen, JSON-safe description of a reversible MBConv U-Net.

One config builds one network (`engine.model.build_network`) in the engine, the trainer and the benchmark
alike, and travels inside checkpoints (`to_dict` / `from_dict`), so every field is a plain JSON value and
`from_dict` refuses unknown keys instead of silently ignoring them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

HEADS = ("sigmoid", "softmax")
NORMS = ("group", "instance", "batch", "none")
ACTIVATIONS = ("silu", "relu", "gelu", "leaky_relu", "mish")
SKIPS = ("add", "concat")
DOWNSAMPLES = ("conv", "pool")
UPSAMPLES = ("transposed", "trilinear")


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of the reversible MBConv 3D U-Net.

    Level 0 is the first level of reversible blocks. With ``stem_stride=2`` (default) it works at half the
    input resolution: a strided stem conv goes down and a light full-resolution head (transposed conv plus a
    1x1 skip from the input image) comes back up, because full-resolution activations dominate training
    memory. With ``stem_stride=1`` level 0 is at full resolution (classic U-Net layout).

    Args:
        in_channels: input modalities (4 for BraTS: T1, T1c, T2, FLAIR).
        out_channels: output maps: 3 regions (ET, TC, WT) for the sigmoid head, number of labels for softmax.
        head: "sigmoid" (independent region probabilities, nnU-Net style for BraTS) or "softmax" (labels).
        base_width: channels of level 0; level i has ``base_width * width_multipliers[i]`` (must be even).
        width_multipliers: one multiplier per level; its length is the number of levels.
        encoder_blocks: reversible coupling blocks (each = one F and one G MBConv) per encoder level.
        decoder_blocks: reversible coupling blocks per decoder level (levels - 1 entries, shallow first).
        expansion: MBConv expansion ratio of the 1x1x1 expansion conv.
        kernel_size: depthwise kernel size (odd).
        norm: "group" (default, batch-size-1 safe), "instance", "batch" or "none".
        norm_groups: groups of group norm (reduced to a divisor of the channel count where needed).
        activation: "silu" (default), "relu", "gelu", "leaky_relu" or "mish".
        se_ratio: squeeze-and-excitation bottleneck as a fraction of the block's input channels; 0 disables.
        dropout: dropout probability before the MBConv projection (0 disables).
        drop_path: stochastic-depth probability of each F / G branch (0 disables).
        skip: "add" (no extra memory) or "concat" (concat then 1x1x1 fuse conv).
        downsample: "conv" (2x2x2 stride-2 conv) or "pool" (2x2x2 average pool, then 1x1x1 conv).
        upsample: "transposed" (2x2x2 stride-2 transposed conv) or "trilinear" (1x1x1 conv, then trilinear).
        stem_stride: 1 (level 0 at full resolution) or 2 (level 0 at half resolution, light full-res head).
        stem_kernel: kernel size of the stem conv.
        head_width: channels of the full-resolution head (used with stem_stride=2).
        deep_supervision: number of extra lower-resolution outputs returned in training mode (0 = off).
        zero_init_residual: start every F / G branch at zero (last norm's scale = 0): each block starts as
            the identity, which keeps the additive coupling well conditioned early in training.
        reversible: run the levels as reversible sequences (True) or with ordinary autograd (False, the
            "twin" with the same weights); switchable later with ``model.set_reversible``.
        float32_stream: under autocast, keep the reversible residual stream (the coupling sums and the
            inputs reconstructed in backward) in float32 instead of bf16 / fp16: reconstruction error at
            float32 level for about a third more stored activation memory.
        channels_last: use the channels-last-3d memory format for weights and activations.
    """

    in_channels: int = 4
    out_channels: int = 3
    head: str = "sigmoid"
    base_width: int = 32
    width_multipliers: tuple[float, ...] = (1, 2, 4, 8, 16)
    encoder_blocks: tuple[int, ...] = (2, 2, 3, 4, 4)
    decoder_blocks: tuple[int, ...] = (1, 1, 1, 1)
    expansion: int = 4
    kernel_size: int = 3
    norm: str = "group"
    norm_groups: int = 8
    activation: str = "silu"
    se_ratio: float = 0.25
    dropout: float = 0.0
    drop_path: float = 0.0
    skip: str = "add"
    downsample: str = "conv"
    upsample: str = "transposed"
    stem_stride: int = 2
    stem_kernel: int = 3
    head_width: int = 16
    deep_supervision: int = 0
    zero_init_residual: bool = True
    reversible: bool = True
    float32_stream: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        # Lists arrive from JSON; keep the frozen dataclass hashable and comparable with tuples.
        for name in ("width_multipliers", "encoder_blocks", "decoder_blocks"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        _validate(self)

    @property
    def levels(self) -> int:
        """Number of U-Net levels (resolutions that hold reversible sequences)."""
        return len(self.width_multipliers)

    @property
    def widths(self) -> tuple[int, ...]:
        """Channel count of every level, level 0 first."""
        return tuple(int(round(self.base_width * m)) for m in self.width_multipliers)

    @property
    def size_multiple(self) -> int:
        """Inputs are padded internally to a multiple of this along every spatial axis."""
        return self.stem_stride * 2 ** (self.levels - 1)

    @property
    def max_deep_supervision(self) -> int:
        """Most auxiliary outputs possible: one per decoder level below full resolution."""
        return self.levels - 1 if self.stem_stride == 2 else max(self.levels - 2, 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists) that `from_dict` turns back into an equal config."""
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            out[item.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UNetConfig:
        """Build a validated config from `to_dict` output; unknown keys are refused (ValueError).

        Args:
            data: mapping of field names to JSON values; missing fields take their defaults.
        """
        if not isinstance(data, dict):
            raise ValueError(f"UNetConfig.from_dict needs a dict, got {type(data).__name__}")
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown UNetConfig key(s) {unknown}; known keys are {sorted(known)} "
                "(was the file written by a newer RevSeg?)"
            )
        return cls(**data)

    def replace(self, **changes: Any) -> UNetConfig:
        """A validated copy with some fields changed (e.g. ``config.replace(reversible=False)``)."""
        return dataclasses.replace(self, **changes)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"UNetConfig.{name} must be one of {list(choices)}, got {value!r}")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"UNetConfig.{name} must be an integer >= {minimum}, got {value!r}")


def _check_probability(name: str, value: Any, upper: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < upper:
        raise ValueError(f"UNetConfig.{name} must be a number in [0, {upper}), got {value!r}")


def _check_int_tuple(name: str, value: Any, length: int, minimum: int) -> None:
    if not isinstance(value, tuple) or len(value) != length:
        raise ValueError(f"UNetConfig.{name} must have {length} entries (one per level), got {value!r}")
    for entry in value:
        _check_int(f"{name}[...]", entry, minimum)


def _validate(config: UNetConfig) -> None:
    for name in ("head", "norm", "activation", "skip", "downsample", "upsample"):
        choices = {"head": HEADS, "norm": NORMS, "activation": ACTIVATIONS, "skip": SKIPS,
                   "downsample": DOWNSAMPLES, "upsample": UPSAMPLES}[name]
        _check_choice(name, getattr(config, name), choices)
    for name in ("in_channels", "out_channels", "base_width", "expansion", "norm_groups", "head_width"):
        _check_int(name, getattr(config, name), 1)
    _check_int("deep_supervision", config.deep_supervision, 0)
    if config.kernel_size not in (1, 3, 5, 7):
        raise ValueError(f"UNetConfig.kernel_size must be 1, 3, 5 or 7, got {config.kernel_size!r}")
    if config.stem_stride not in (1, 2):
        raise ValueError(f"UNetConfig.stem_stride must be 1 or 2, got {config.stem_stride!r}")
    if config.stem_kernel not in (1, 2, 3, 5):
        raise ValueError(f"UNetConfig.stem_kernel must be 1, 2, 3 or 5, got {config.stem_kernel!r}")
    if config.stem_kernel == 2 and config.stem_stride == 1:
        raise ValueError("UNetConfig.stem_kernel=2 needs stem_stride=2 (an even kernel would shift the grid)")
    _check_probability("se_ratio", config.se_ratio, 1.0 + 1e-9)
    _check_probability("dropout", config.dropout, 1.0)
    _check_probability("drop_path", config.drop_path, 1.0)
    if config.head == "softmax" and config.out_channels < 2:
        raise ValueError("a softmax head needs out_channels >= 2 (background + labels)")
    _validate_levels(config)
    for name in ("zero_init_residual", "reversible", "float32_stream", "channels_last"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"UNetConfig.{name} must be true or false, got {getattr(config, name)!r}")


def _validate_levels(config: UNetConfig) -> None:
    multipliers = config.width_multipliers
    if not isinstance(multipliers, tuple) or not 1 <= len(multipliers) <= 8:
        raise ValueError(f"UNetConfig.width_multipliers must list 1 to 8 numbers, got {multipliers!r}")
    for m in multipliers:
        if isinstance(m, bool) or not isinstance(m, int | float) or not math.isfinite(m) or m <= 0:
            raise ValueError(f"UNetConfig.width_multipliers must be positive numbers, got {multipliers!r}")
    odd = [w for w in config.widths if w < 2 or w % 2]
    if odd:
        raise ValueError(
            f"every level width base_width * multiplier must be an even integer >= 2 (the reversible coupling "
            f"splits channels in halves); got widths {list(config.widths)}"
        )
    _check_int_tuple("encoder_blocks", config.encoder_blocks, config.levels, 1)
    _check_int_tuple("decoder_blocks", config.decoder_blocks, config.levels - 1, 1)
    if config.deep_supervision > config.max_deep_supervision:
        raise ValueError(
            f"UNetConfig.deep_supervision must be <= {config.max_deep_supervision} for {config.levels} levels "
            f"and stem_stride={config.stem_stride}, got {config.deep_supervision}"
        )
