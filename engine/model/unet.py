"""The reversible MBConv 3D U-Net (`RevSegUNet`) and `build_network(config)`.

Layout (default ``stem_stride=2``)::

    input (C_in, full res) --stem: strided conv--> level 0 (half res)
    encoder level i: ReversibleSequence(width w_i) --down: 2x2x2 stride-2 conv--> level i+1
    decoder level i: up(level i+1) (+ or concat) encoder skip i -> ReversibleSequence(width w_i)
    head: transposed conv to full res + 1x1x1 conv of the input image -> act -> 1x1x1 conv -> logits

Everything between stem and head that is not a reversible sequence is a linear, non-reversible layer
(down/up-sampling, skip fusion) chosen to store as little as possible for backward: skips are added
(nothing saved), the down conv saves the encoder output the reversible Function stores anyway (same
storage), and the up conv saves the decoder output likewise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from engine.model.blocks import LOW_PRECISION, MBConv3d, autocast_active, make_activation
from engine.model.config import UNetConfig
from engine.model.fused_backward import BranchCompiler
from engine.model.reversible import MODES, ReversibleCoupling, ReversibleSequence

logger = logging.getLogger(__name__)


def _mbconv(config: UNetConfig, channels: int) -> MBConv3d:
    return MBConv3d(
        channels,
        expansion=config.expansion,
        kernel_size=config.kernel_size,
        norm=config.norm,
        norm_groups=config.norm_groups,
        activation=config.activation,
        se_ratio=config.se_ratio,
        dropout=config.dropout,
        drop_path=config.drop_path,
        zero_init=config.zero_init_residual,
    )


def _sequence(config: UNetConfig, width: int, blocks: int) -> ReversibleSequence:
    half = width // 2
    couplings = [ReversibleCoupling(_mbconv(config, half), _mbconv(config, half)) for _ in range(blocks)]
    mode = "reversible" if config.reversible else "plain"
    return ReversibleSequence(couplings, mode=mode, float32_stream=config.float32_stream)


class Downsample(nn.Module):
    """Halve the resolution and change channels: 2x2x2 stride-2 conv, or 2x2x2 average pool + 1x1x1 conv."""

    def __init__(self, kind: str, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool3d(2) if kind == "pool" else nn.Identity()
        kernel = 1 if kind == "pool" else 2
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride=kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class Upsample(nn.Module):
    """Double the resolution and change channels: 2x2x2 transposed conv, or 1x1x1 conv then trilinear.

    The trilinear variant convolves at the low resolution first (the two linear maps commute), so nothing
    at the high resolution is saved for backward.
    """

    def __init__(self, kind: str, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "transposed":
            self.conv = nn.ConvTranspose3d(in_channels, out_channels, 2, stride=2)
        else:
            self.conv = nn.Conv3d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.kind == "transposed":
            return x
        return F.interpolate(x, scale_factor=2.0, mode="trilinear", align_corners=False)


class FullResolutionHead(nn.Module):
    """Light head for ``stem_stride=2``: up-sample features, add a 1x1x1 view of the image, act, classify."""

    def __init__(self, config: UNetConfig, in_width: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose3d(in_width, config.head_width, 2, stride=2)
        self.image = nn.Conv3d(config.in_channels, config.head_width, 1, bias=False)
        self.act = make_activation(config.activation)
        self.classify = nn.Conv3d(config.head_width, config.out_channels, 1)

    def forward(self, features: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.classify(self.act(self.up(features) + self.image(image)))


class RevSegUNet(nn.Module):
    """Reversible MBConv 3D U-Net; build it with `build_network(config)`.

    ``forward(x)`` takes (N, in_channels, D, H, W) of any size: it pads the spatial axes (zeros, at the end)
    to a multiple of ``config.size_multiple`` and crops the outputs back. It returns logits of shape
    (N, out_channels, D, H, W); in training mode with ``config.deep_supervision = k > 0`` it returns a list
    ``[main, aux_1, ..., aux_k]`` where aux_j has spatial size ceil(size / 2**j).
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.widths
        padding = 0 if config.stem_kernel == 2 else config.stem_kernel // 2
        self.stem = nn.Conv3d(
            config.in_channels, widths[0], config.stem_kernel, stride=config.stem_stride, padding=padding
        )
        self.encoders = nn.ModuleList(_sequence(config, w, n) for w, n in zip(widths, config.encoder_blocks, strict=True))
        self.downs = nn.ModuleList(Downsample(config.downsample, a, b) for a, b in zip(widths, widths[1:], strict=False))
        self.ups = nn.ModuleList(Upsample(config.upsample, b, a) for a, b in zip(widths, widths[1:], strict=False))
        self.fuses = nn.ModuleList(
            nn.Conv3d(2 * w, w, 1) if config.skip == "concat" else nn.Identity() for w in widths[:-1]
        )
        self.decoders = nn.ModuleList(_sequence(config, w, n) for w, n in zip(widths, config.decoder_blocks, strict=False))
        if config.stem_stride == 2:
            self.head: nn.Module = FullResolutionHead(config, widths[0])
        else:
            self.head = nn.Conv3d(widths[0], config.out_channels, 1)
        first_aux = 0 if config.stem_stride == 2 else 1
        self.aux_levels = tuple(range(first_aux, first_aux + config.deep_supervision))
        self.aux_heads = nn.ModuleList(nn.Conv3d(widths[i], config.out_channels, 1) for i in self.aux_levels)
        if config.channels_last:
            self.to(memory_format=torch.channels_last_3d)

    # ----------------------------------------------------------------------------------------- modes
    def sequences(self) -> Iterator[ReversibleSequence]:
        """Every reversible sequence, encoder levels first."""
        yield from self.encoders
        yield from self.decoders

    @property
    def execution_mode(self) -> str:
        """"reversible", "plain" (ordinary autograd twin) or "checkpoint" (twin + checkpoint per level)."""
        return self.encoders[0].mode

    def set_execution_mode(self, mode: str) -> RevSegUNet:
        """Switch every sequence to `mode` ("reversible", "plain" or "checkpoint"); weights are untouched."""
        if mode not in MODES:
            raise ValueError(f"unknown execution mode {mode!r}; use one of {list(MODES)}")
        for sequence in self.sequences():
            sequence.mode = mode
        return self

    def set_reversible(self, reversible: bool = True) -> RevSegUNet:
        """Reversible mode (True) or the plain-autograd twin with the same weights (False)."""
        return self.set_execution_mode("reversible" if reversible else "plain")

    def branches(self) -> Iterator[MBConv3d]:
        """Every F and G MBConv block."""
        for sequence in self.sequences():
            for block in sequence.blocks:
                yield block.f
                yield block.g

    def compile_blocks(self, **compile_kwargs: object) -> RevSegUNet:
        """`torch.compile` every F / G block in place (state-dict keys unchanged); works in all modes.

        Args:
            compile_kwargs: passed to `nn.Module.compile` (e.g. mode="max-autotune", dynamic=False).
        """
        # Each block shape, grad mode and input stride is its own graph: allow enough recompilations.
        dynamo_config = torch._dynamo.config
        limit_name = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
        wanted = 8 * (len(self.encoders) + len(self.decoders)) + 16
        setattr(dynamo_config, limit_name, max(getattr(dynamo_config, limit_name), wanted))
        for branch in self.branches():
            branch.compile(**compile_kwargs)
        return self

    def compile_reversible(self, **compile_kwargs: object) -> RevSegUNet:
        """Compiled forward and fused backward graphs for the reversible mode (`engine.model.fused_backward`).

        Each F / G branch then runs as one compiled call in the forward and one in the backward (recompute,
        vector-Jacobian product, inversion and gradient sum together); branches of equal structure and
        input shape share a graph. Other modes, and inference without grad, are unaffected. A graph that
        fails to trace or compile is logged and runs eagerly. Weights and state-dict keys are unchanged.

        Args:
            compile_kwargs: passed to `torch.compile` for every graph (e.g. backend="aot_eager").
        """
        compiler = BranchCompiler(**compile_kwargs)
        for sequence in self.sequences():
            sequence.compiler = compiler
        return self

    def compile_for_training(self, **compile_kwargs: object) -> RevSegUNet:
        """The trainer's compiled mode: `compile_reversible` when the network is in reversible mode (the fused
        backward measured faster than compiled modules there, docs/benchmarks.md), else `compile_blocks`."""
        if self.execution_mode == "reversible":
            return self.compile_reversible(**compile_kwargs)
        return self.compile_blocks(**compile_kwargs)

    def uncompile_reversible(self) -> RevSegUNet:
        """Back to the eager reversible backward (undoes `compile_reversible`)."""
        for sequence in self.sequences():
            sequence.compiler = None
        return self

    # --------------------------------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if x.dim() != 5 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected input of shape (N, {self.config.in_channels}, D, H, W), got {tuple(x.shape)}"
            )
        spatial = tuple(x.shape[2:])
        x = self._prepare_input(x, spatial)
        features = self.stem(x)
        skips = []
        for level, encoder in enumerate(self.encoders):
            features = encoder(features)
            if level < len(self.downs):
                skips.append(features)
                features = self.downs[level](features)
        aux: dict[int, torch.Tensor] = {}
        for level in reversed(range(len(self.decoders))):
            features = self._merge(level, self.ups[level](features), skips.pop())
            features = self.decoders[level](features)
            if level in self.aux_levels:
                aux[level] = features
        logits = self.head(features, x) if self.config.stem_stride == 2 else self.head(features)
        main = _crop(logits, spatial)
        if not (self.training and self.aux_heads):
            return main
        outputs = [main]
        for j, (level, head) in enumerate(zip(self.aux_levels, self.aux_heads, strict=True), start=1):
            outputs.append(_crop(head(aux[level]), tuple(-(-s // 2**j) for s in spatial)))
        return outputs

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities from logits: per-region sigmoid, or softmax over labels (``config.head``)."""
        if self.config.head == "sigmoid":
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=1)

    def _prepare_input(self, x: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
        # Cast once under autocast so the stem and the head's image conv save the same low-precision copy.
        if x.dtype == torch.float32 and autocast_active(x.device.type):
            dtype = torch.get_autocast_dtype(x.device.type)
            if dtype in LOW_PRECISION:
                x = x.to(dtype)
        multiple = self.config.size_multiple
        pad = [(-s) % multiple for s in spatial]
        if any(pad):
            x = F.pad(x, [p for amount in reversed(pad) for p in (0, amount)])
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return x

    def _merge(self, level: int, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.config.skip == "add":
            return up + skip
        return self.fuses[level](torch.cat([up, skip], dim=1))


def _crop(x: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
    if tuple(x.shape[2:]) == spatial:
        return x
    return x[(..., *(slice(0, s) for s in spatial))]


def build_network(config: UNetConfig) -> RevSegUNet:
    """The one constructor the engine, the trainer and the benchmark use.

    Args:
        config: validated architecture description.
    """
    if not isinstance(config, UNetConfig):
        raise ValueError(f"build_network needs a UNetConfig, got {type(config).__name__}")
    model = RevSegUNet(config)
    logger.debug("built RevSegUNet with %d parameters", sum(p.numel() for p in model.parameters()))
    return model
