"""Predictor: run a network over a volume tile by tile and merge the weighted logits.

One call of ``Predictor.predict`` plans the tiles (``tiling``), copies the padded volume to the device once
(tiles are then views, nothing is transferred per tile), runs the tiles in batches under autocast, adds each
prediction with the Gaussian importance map (``weights``) to the merger's buffer (``merger``), and returns the
merged logits on the CPU. Progress is reported per tile and cancellation is checked between batches.

Out of memory on the accelerator: the cache is emptied and the run is retried with half the batch, then a
smaller tile, finally on the CPU; each step is logged.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
import torch
from torch import nn

from engine.errors import CancelCheck, ProgressCallback, check_cancel, report
from engine.inference.graphs import GraphedForward
from engine.inference.merger import WeightedMerger
from engine.inference.onnx_cpu import BACKENDS as CPU_BACKENDS
from engine.inference.onnx_cpu import OnnxForward, resolve_cpu_backend, tile_workers
from engine.inference.tiling import TilePlan, plan_tiles
from engine.inference.weights import gaussian_importance_map
from engine.model.depthwise import DepthwiseConv3d, triton_available
from engine.oom import is_out_of_memory

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_TILE = 128
TILE_CHOICES = (160, 128, 96, 64)
# Peak activation bytes per input voxel of one tile in an eval forward, to choose tile and batch from free GPU
# memory. Measured on an H100 (docs/benchmarks.md, default model, 4 tiles of 128^3): about 150 in bf16 and 270 in
# fp32 once the volume, merger buffers and weights (0.35 GiB) are taken off the peak; 300 covers both.
BYTES_PER_TILE_VOXEL = 300
MAX_AUTO_BATCH = 4


@dataclass(frozen=True)
class PredictorConfig:
    """Settings of the sliding-window predictor.

    Attributes:
        tile: tile edge in voxels; None chooses it (from free memory on CUDA, 128 elsewhere).
        overlap: fraction of a tile shared with each neighbour, in [0, 1).
        batch_size: tiles per forward; None chooses it (from free memory on CUDA; on the CPU with ONNX Runtime
            the tiles it runs side by side, ``onnx_cpu.tile_workers()``; else 1).
        device: "auto" (CUDA, else MPS, else CPU), "cpu", "cuda", "cuda:N" or "mps".
        amp: autocast on CUDA (bf16 where supported, else fp16); the CPU and MPS always run fp32.
        tta: mirroring test-time augmentation (average over the 8 flips of the three axes).
        accumulate: "float32", or "half" to accumulate in the autocast dtype (re-run in fp32 on overflow).
        min_tile: smallest tile the out-of-memory fallback tries before moving to the CPU.
        compile: run the network through ``torch.compile`` on CUDA, with the Triton depthwise kernel kept as the
            operator ``revseg::depthwise3x3x3`` (0.150 against 0.163 s a BraTS case with CUDA graphs on an H100,
            docs/benchmarks.md). The first prediction pays the compilation (tens of seconds), so it suits batch
            runs and servers; the GUI leaves it off.
        cuda_graphs: on CUDA, replay the network's forward as a CUDA graph per tile-batch shape
            (``engine.inference.graphs``): the eager forward left the GPU idle about 40 % of the time on an H100.
            The graphs' memory is held until the predictor is dropped or ``release()``d (an out-of-memory retry
            releases it too); parameters that moved are noticed and the graphs captured again.
        cpu_channels_last: on the CPU, run the network and its tiles in the channels-last 3D memory format, so
            oneDNN's convolutions skip their layout copies: a 128^3 tile's forward about 1.3x faster here with
            logits equal to ~1e-3 (docs/benchmarks.md, issue 19). The result is the same computation.
        cpu_backend: the CPU forward: "onnxruntime" (``engine.inference.onnx_cpu``: exported once per weights,
            1.7x the eager speed here), "eager", or "auto" (ONNX Runtime when installed; ``REVSEG_CPU_BACKEND``
            overrides). A trainer whose weights change between validations uses "eager".
    """

    tile: int | None = None
    overlap: float = 0.5
    batch_size: int | None = None
    device: str = "auto"
    amp: bool = True
    tta: bool = False
    accumulate: str = "float32"
    min_tile: int = 64
    compile: bool = False
    cuda_graphs: bool = True
    cpu_channels_last: bool = True
    cpu_backend: str = "auto"

    def __post_init__(self) -> None:
        if self.tile is not None and self.tile < 1:
            raise ValueError(f"tile must be a positive number of voxels, got {self.tile}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.device.split(":")[0] not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES} (or cuda:N), got {self.device!r}")
        if self.accumulate not in ("float32", "half"):
            raise ValueError(f"accumulate must be 'float32' or 'half', got {self.accumulate!r}")
        if self.cpu_backend not in CPU_BACKENDS:
            raise ValueError(f"cpu_backend must be one of {CPU_BACKENDS}, got {self.cpu_backend!r}")


@dataclass(frozen=True)
class Attempt:
    """One try of a prediction: where and how big."""

    device: torch.device
    tile: int
    batch: int


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for "auto" (CUDA, else MPS, else CPU) or an explicit name.

    Raises:
        ValueError: the requested accelerator is not available.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--device mps was asked for but MPS is not available; use --device cpu or auto")
    return torch.device(name)


def use_all_cores() -> int:
    """Give torch's intra-op pool every core unless the user pinned it (OMP_NUM_THREADS / MKL_NUM_THREADS).

    Returns the number of threads torch uses afterwards.
    """
    pinned = any(os.environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"))
    cores = os.cpu_count() or 1
    if not pinned and torch.get_num_threads() < cores:
        log.info("using all %d cores for torch (was %d threads)", cores, torch.get_num_threads())
        torch.set_num_threads(cores)
    return torch.get_num_threads()


def autocast_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """bf16 on CUDA where supported, else fp16; None (fp32) on CPU and MPS or without AMP."""
    if not amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def round_to_multiple(value: int, multiple: int) -> int:
    return max(multiple, int(math.ceil(value / multiple)) * multiple)


def next_attempt(attempt: Attempt, min_tile: int, multiple: int, cpu_tile: int) -> Attempt | None:
    """The smaller try after an out-of-memory error: half the batch, then a smaller tile, then the CPU."""
    if attempt.batch > 1:
        return replace(attempt, batch=attempt.batch // 2)
    smaller = round_to_multiple(attempt.tile * 3 // 4, multiple)
    if smaller < attempt.tile and smaller >= min_tile:
        return replace(attempt, tile=smaller)
    if attempt.device.type != "cpu":
        return Attempt(torch.device("cpu"), cpu_tile, 1)
    return None


def memory_plan(free_bytes: int, multiple: int, tile: int | None, batch: int | None) -> tuple[int, int]:
    """Tile and batch that fit ``free_bytes`` by the activation heuristic (the largest tile first).

    Args:
        free_bytes: free accelerator memory.
        multiple: the network's size multiple (tiles are rounded to it).
        tile: the user's tile, or None to choose.
        batch: the user's batch size, or None to choose.
    """
    budget = 0.7 * free_bytes
    candidates = [tile] if tile else list(TILE_CHOICES)
    chosen = candidates[-1]
    for candidate in candidates:
        if candidate ** 3 * BYTES_PER_TILE_VOXEL <= budget:
            chosen = candidate
            break
    chosen = round_to_multiple(chosen, multiple)
    fitting = int(budget // max(chosen ** 3 * BYTES_PER_TILE_VOXEL, 1))
    return chosen, batch or int(min(max(fitting, 1), MAX_AUTO_BATCH))


def mirror_axes_sets() -> list[tuple[int, ...]]:
    """The 8 flips of three spatial axes (dims 2, 3, 4 of an N, C, D, H, W batch), identity first."""
    return [axes for count in range(4) for axes in combinations((2, 3, 4), count)]


class Predictor:
    """Sliding-window prediction with a network that maps (N, C_in, D, H, W) to (N, C_out, D, H, W) logits.

    Args:
        network: the model (moved to the chosen device; run in eval mode, its previous mode restored after).
        config: predictor settings.
    """

    def __init__(self, network: nn.Module, config: PredictorConfig = PredictorConfig()) -> None:
        self.network, self.config = network, config
        model_config = getattr(network, "config", None)
        self.multiple = int(getattr(model_config, "size_multiple", 1))
        self.device = resolve_device(config.device)
        self.last_attempt: Attempt | None = None
        self.last_tiles = 0  # tiles of the last successful prediction
        self.last_backend = ""  # what ran the network in the last prediction: "torch" or "onnxruntime"
        self._compiled: nn.Module | None = None
        self._graphed: GraphedForward | None = None
        self._onnx: OnnxForward | None = None  # for one prediction: its session's memory goes when it ends

    def first_attempt(self) -> Attempt:
        """Tile and batch for the chosen device (from free memory on CUDA)."""
        cfg = self.config
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            tile, batch = memory_plan(free, self.multiple, cfg.tile, cfg.batch_size)
            log.info("CUDA free memory %.1f GiB: tile %d, batch %d", free / 2**30, tile, batch)
            return Attempt(self.device, tile, batch)
        tile = round_to_multiple(cfg.tile or DEFAULT_TILE, self.multiple)
        return Attempt(self.device, tile, cfg.batch_size or self._default_batch(tile))

    def _default_batch(self, tile: int) -> int:
        """1, or on the CPU with ONNX Runtime the tiles it runs side by side (faster than one at a time on every
        core, where memory allows: ``engine.inference.onnx_cpu``)."""
        onnx = self.device.type == "cpu" and resolve_cpu_backend(self.config.cpu_backend) == "onnxruntime"
        return tile_workers(tile_voxels=tile**3) if onnx else 1

    def predict(self, volume: np.ndarray | torch.Tensor, progress: ProgressCallback | None = None,
                cancel: CancelCheck | None = None, *, on_device: bool = False) -> torch.Tensor:
        """Merged logits (C_out, D, H, W), float32 on the CPU, of a (C_in, D, H, W) volume.

        With ``on_device`` the logits stay on the device that computed them (as MONAI's sliding window returns
        them): a caller that post-processes there saves the copy to the host (about 100 MB for a BraTS case).

        Raises:
            OperationCancelled: ``cancel()`` returned True (checked between batches).
        """
        image = torch.as_tensor(np.asarray(volume, dtype=np.float32) if isinstance(volume, np.ndarray) else volume)
        if image.dim() != 4:
            raise ValueError(f"expected a (channels, D, H, W) volume, got shape {tuple(image.shape)}")
        attempt = self.first_attempt()
        while True:
            try:
                result = self._run(image, attempt, progress, cancel)
                result = result if on_device else result.cpu()
                self.last_attempt = attempt
                return result
            except Exception as error:  # noqa: BLE001 - only out-of-memory errors are retried
                if not is_out_of_memory(error):
                    raise
                self._free(attempt.device)
                smaller = next_attempt(attempt, self.config.min_tile, self.multiple,
                                       round_to_multiple(self.config.tile or DEFAULT_TILE, self.multiple))
                if smaller is None:
                    raise
                log.warning("out of memory on %s with tile %d and batch %d; freed the cache, retrying with "
                            "tile %d and batch %d on %s", attempt.device, attempt.tile, attempt.batch,
                            smaller.tile, smaller.batch, smaller.device)
                attempt = smaller

    def run_record(self) -> dict[str, object]:
        """How the last prediction ran, for provenance (the sidecar's "inference" record)."""
        attempt = self.last_attempt
        return {"device": str(attempt.device) if attempt else "", "backend": self.last_backend,
                "tile": attempt.tile if attempt else 0, "batch": attempt.batch if attempt else 0,
                "tiles": self.last_tiles, "overlap": self.config.overlap, "tta": self.config.tta}

    def release(self) -> None:
        """Drop the CUDA graphs (they are captured again on the next predictions) and empty the caches."""
        self._free(self.device)

    def _free(self, device: torch.device) -> None:
        import gc

        if self._graphed is not None:
            self._graphed.release()
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        elif device.type == "mps":
            torch.mps.empty_cache()

    def _run(self, image: torch.Tensor, attempt: Attempt, progress: ProgressCallback | None,
             cancel: CancelCheck | None) -> torch.Tensor:
        """One full pass at ``attempt``'s device, tile and batch (re-run in fp32 if a half sum overflowed)."""
        spatial = tuple(image.shape[1:])
        tile = tuple(min(attempt.tile, round_to_multiple(s, self.multiple)) for s in spatial)
        plan = plan_tiles(spatial, tile, self.config.overlap)
        amp = autocast_dtype(attempt.device, self.config.amp)
        accumulate = amp if (self.config.accumulate == "half" and amp is not None) else torch.float32
        was_training = self.network.training
        self.network.eval()  # a trainer validating mid-training gets its mode back
        if attempt.device.type == "cpu" and resolve_cpu_backend(self.config.cpu_backend) == "onnxruntime":
            self._onnx = OnnxForward(self.network)
        try:
            merger = self._pass(image, plan, attempt, amp, accumulate, progress, cancel)
            if merger.overflowed:
                log.warning("half-precision accumulation overflowed; running again with float32 sums")
                merger = self._pass(image, plan, attempt, amp, torch.float32, progress, cancel)
        finally:
            self.network.train(was_training)
            self.last_backend = "onnxruntime" if self._onnx is not None and self._onnx.failed is None else "torch"
            self._onnx = None
        self.last_tiles = len(plan)
        crop = (slice(None), *(slice(0, s) for s in spatial))
        return merger.result()[crop]

    def _pass(self, image: torch.Tensor, plan: TilePlan, attempt: Attempt, amp: torch.dtype | None,
              accumulate: torch.dtype, progress: ProgressCallback | None, cancel: CancelCheck | None) -> WeightedMerger:
        device = attempt.device
        layout = self._memory_format(device)
        converted = any(p.dim() == 5 and not p.is_contiguous(memory_format=layout) for p in self.network.parameters())
        if converted:  # the layout changes (CPU channels-last, or back after a CPU run)
            self.network.to(device, memory_format=layout)
        else:  # as before: CUDA graphs track the parameters' storage
            self.network.to(device)
        # Copy, then pad on the device: padding (and pinning) 150 MB on the CPU cost more than the transfer.
        # A volume already on the device is used as it is. Tiles are views of this one padded copy.
        padded = torch.nn.functional.pad(image.to(device), [p for pad in reversed(plan.padding) for p in (0, pad)])
        weight = gaussian_importance_map(plan.tile, str(device), torch.float32)
        merger: WeightedMerger | None = None
        done = 0
        if device.type == "cpu" and self._onnx is not None:  # a first run with new weights exports them here
            self._onnx.prepare((min(attempt.batch, len(plan)), image.shape[0], *plan.tile), progress)
        report(progress, "infer", 0, len(plan))
        for start in range(0, len(plan), attempt.batch):
            check_cancel(cancel, "inference")
            origins = plan.origins[start:start + attempt.batch]
            batch = torch.stack([padded[(slice(None), *plan.slices(o))] for o in origins])
            batch = batch.contiguous(memory_format=layout)
            logits = self._forward(batch, device, amp)
            if merger is None:
                merger = WeightedMerger(logits.shape[1], plan.padded_shape, device, accumulate)
            for origin, prediction in zip(origins, logits, strict=True):
                merger.add(prediction, plan.slices(origin), weight)
            done += len(origins)
            report(progress, "infer", done, len(plan))
        assert merger is not None  # a plan has at least one tile
        return merger

    def _memory_format(self, device: torch.device) -> torch.memory_format:
        """Channels-last 3D on the CPU when configured and the eager network runs, else the default layout (CUDA's
        kernels expect it; ONNX Runtime takes contiguous arrays, so channels-last tiles would be copied back)."""
        if device.type == "cpu" and self.config.cpu_channels_last and self._onnx is None:
            return torch.channels_last_3d
        return torch.contiguous_format

    def _network_for(self, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
        """The network's forward on ``device``: compiled and graphed on CUDA when the config asks for them."""
        if device.type == "cpu" and self._onnx is not None:
            return self._onnx
        if device.type != "cuda":
            return self.network
        network = self.network
        if self.config.compile:
            if self._compiled is None:
                for module in self.network.modules():  # the Triton depthwise kernel inside the compiled graph
                    if isinstance(module, DepthwiseConv3d):
                        module.triton_when_compiled = triton_available()
                self._compiled = torch.compile(self.network)
            network = self._compiled
        if not self.config.cuda_graphs:
            return network
        if self._graphed is None or self._graphed.forward is not network:
            self._graphed = GraphedForward(network)
        return self._graphed

    @torch.inference_mode()
    def _forward(self, batch: torch.Tensor, device: torch.device, amp: torch.dtype | None) -> torch.Tensor:
        """Logits of a batch (float32), averaged over the mirrored inputs when TTA is on."""
        flips = mirror_axes_sets() if self.config.tta else [()]
        total = None
        with torch.autocast(device_type=device.type, dtype=amp, enabled=amp is not None):
            network = self._network_for(device)
            for axes in flips:
                flipped = batch.flip(axes) if axes else batch
                logits = network(flipped).float()
                logits = logits.flip(axes) if axes else logits
                total = logits if total is None else total + logits
        return total / len(flips)
