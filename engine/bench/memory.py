"""Training-memory benchmark of the reversible U-Net against its plain-autograd twin (and twin + checkpointing).

``python main.py bench memory [options]`` (CUDA; ``engine.bench.memory_cli``) or ``--smoke`` (CPU, tiny model, for
tests). For each case it
runs full training steps (forward + backward + AdamW step, bf16 autocast, batch 1, 4 input channels) and
reports peak CUDA memory (``torch.cuda.max_memory_allocated`` after warm-up, reset per case), median step
time, and "saved activations": the bytes of distinct tensor storages autograd holds for backward at the end
of the model's forward (counted with a saved-tensors hook; parameters excluded). The last measure is
device-independent and is what the CPU smoke run reports; peak memory is "n/a" there.

Sections (``--sections``): crops (fixed crops x modes), budget (largest cube under ``--budget-gib``), depth
(most blocks per level), width (widest base width), blocks (peak vs blocks per level 1, 2, 4, 8), brats (a
whole padded 256x256x160 volume), peers (MONAI SegResNet, only when monai is importable). JSON and markdown
results go to ``--out`` (default $OUT, else ./bench-out); the markdown table is printed last.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import multiprocessing
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from engine.bench.memory_report import GIB, Case
from engine.model import UNetConfig, build_network, count_parameters
from engine.oom import is_out_of_memory

logger = logging.getLogger(__name__)

MODES = {"reversible": "reversible", "twin": "plain", "checkpoint": "checkpoint"}
ALL_SECTIONS = ("crops", "budget", "depth", "width", "blocks", "brats", "peers")
DEFAULT_CROPS = "96,128,160,192,240x240x160"
SMOKE_CONFIG = UNetConfig(base_width=8, width_multipliers=(1, 2, 3), encoder_blocks=(1, 2, 1),
                          decoder_blocks=(1, 1), norm_groups=4)


@dataclass
class BenchOptions:
    """What to run; see `build_parser` for the meaning of each field."""

    device: str = "cuda"
    sections: tuple[str, ...] = ALL_SECTIONS
    modes: tuple[str, ...] = tuple(MODES)
    crops: tuple[tuple[int, int, int], ...] = ()
    config: UNetConfig = field(default_factory=UNetConfig)
    warmup: int = 2
    iters: int = 5
    budget_gib: float = 16.0
    cube_step: int = 32
    max_cube: int = 640
    max_blocks: int = 32
    max_width: int = 256
    search_crop: int = 128
    bf16: bool = True
    compile_blocks: bool = False
    max_seconds: float = 0.0
    isolate: bool = True
    started: float = field(default_factory=time.monotonic)

    def out_of_time(self) -> bool:
        return self.max_seconds > 0 and time.monotonic() - self.started > self.max_seconds


# ------------------------------------------------------------------------------------------ measuring
def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Region BCE + soft Dice in float32, as a BraTS trainer would use."""
    logits = logits.float()
    probabilities = torch.sigmoid(logits)
    dims = tuple(range(2, logits.dim()))
    overlap = (probabilities * target).sum(dims)
    dice = (2 * overlap + 1) / (probabilities.sum(dims) + target.sum(dims) + 1)
    return F.binary_cross_entropy_with_logits(logits, target) + (1 - dice).mean()


class SavedActivationCounter:
    """Bytes of distinct storages saved for backward (parameters excluded), via saved-tensors hooks."""

    def __init__(self, model: nn.Module) -> None:
        self.excluded = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.storages: dict[int, int] = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in self.excluded:
            self.storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    @property
    def total(self) -> int:
        return sum(self.storages.values())

    def __enter__(self) -> SavedActivationCounter:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.__exit__(*exc)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_steps(model: nn.Module, spatial: tuple[int, int, int], options: BenchOptions) -> tuple[int | None, int | None, float]:
    """Warm-up and timed steps; returns (peak bytes, saved bytes, median step ms)."""
    device = torch.device(options.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    image = torch.randn(1, 4, *spatial, device=device)
    out_channels = getattr(getattr(model, "config", None), "out_channels", 3)
    target = (torch.rand(1, out_channels, *spatial, device=device) > 0.5).float()
    saved: int | None = None

    def step(count_saved: bool) -> None:
        nonlocal saved
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=options.bf16):
            if count_saved:
                with SavedActivationCounter(model) as counter:
                    logits = model(image)
                saved = counter.total
            else:
                logits = model(image)
        _loss(logits, target).backward()
        optimizer.step()

    for index in range(max(options.warmup, 1)):
        step(count_saved=index == 0 and not options.compile_blocks)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(max(options.iters, 1)):
        start = time.perf_counter()
        step(count_saved=False)
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return peak, saved, statistics.median(times)


def _release(device: str) -> None:
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def measure(
    section: str, label: str, factory: Callable[[], nn.Module], spatial: tuple[int, int, int],
    options: BenchOptions, *, base_width: int = 0, blocks: int | None = None,
) -> Case:
    """Build a model with `factory` and measure training steps at `spatial`; OOM is caught and reported."""
    case = Case(section, label, tuple(spatial), base_width, blocks, 0)
    if options.out_of_time():
        case.status = "skipped (time limit)"
        return case
    _release(options.device)
    if torch.device(options.device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(options.device)
    try:
        model = factory().to(options.device).train()
        case.parameters = count_parameters(model)
        case.peak_bytes, case.saved_bytes, case.step_ms = _train_steps(model, case.spatial, options)
    except Exception as error:  # noqa: BLE001 - every failure becomes a row of the report
        case.status = "OOM" if is_out_of_memory(error) else f"error: {type(error).__name__}: {str(error)[:160]}"
    finally:
        model = None  # drop the references (the traceback is gone after the except block)
        _release(options.device)
    if case.ok and case.peak_bytes is not None and case.peak_bytes > options.budget_gib * GIB and section in (
        "budget", "depth", "width"
    ):
        case.status = "over budget"
    logger.info("%s %s %s: %s peak=%s step=%s", section, label, spatial, case.status, case.peak_bytes, case.step_ms)
    return case


def unet_factory(config: UNetConfig, mode: str, compile_blocks: bool) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        model = build_network(config).set_execution_mode(MODES[mode])
        return model.compile_blocks() if compile_blocks else model

    return build


def measure_unet(section: str, mode: str, config: UNetConfig, spatial: tuple[int, int, int], options: BenchOptions,
                 blocks: int | None = None) -> Case:
    factory = unet_factory(config, mode, options.compile_blocks)
    return measure(section, mode, factory, spatial, options, base_width=config.base_width, blocks=blocks)


# ------------------------------------------------------------------------------------------ searches
def largest_fitting(candidates: list[int], probe: Callable[[int], Case]) -> tuple[int | None, list[Case]]:
    """Binary search for the largest candidate whose probe is ok (assumes monotone fit)."""
    low, high, best, probed = 0, len(candidates) - 1, None, []
    while low <= high:
        middle = (low + high) // 2
        case = probe(candidates[middle])
        probed.append(case)
        if case.ok:
            best, low = candidates[middle], middle + 1
        elif case.status.startswith("skipped"):
            break
        else:
            high = middle - 1
    return best, probed


def _with_blocks(config: UNetConfig, blocks: int) -> UNetConfig:
    return config.replace(encoder_blocks=(blocks,) * config.levels, decoder_blocks=(blocks,) * (config.levels - 1))


def probe_isolated(section: str, mode: str, config: UNetConfig, spatial: tuple[int, int, int],
                   options: BenchOptions, blocks: int | None = None) -> Case:
    """One search probe in a fresh spawned process under the memory budget.

    Seen on an H100: after an OOM, memory stayed unusable in the process that hit it, so every later probe
    failed too. A process per probe (a few seconds of start-up) keeps the searches honest.
    """
    if options.out_of_time():
        return Case(section, mode, spatial, config.base_width, blocks, 0, status="skipped (time limit)")
    if not options.isolate:
        return _probe_worker(section, mode, config, spatial, options, blocks)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(_probe_worker, section, mode, config, spatial, options, blocks).result()
        except BrokenProcessPool as error:
            return Case(section, mode, spatial, config.base_width, blocks, 0, status=f"error: worker died ({error})")


def _probe_worker(section: str, mode: str, config: UNetConfig, spatial: tuple[int, int, int],
                  options: BenchOptions, blocks: int | None) -> Case:
    device = _cuda_index(options.device)
    if device is not None:
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, options.budget_gib * GIB / total), device)
        torch.backends.cudnn.benchmark = False  # no autotuning workspace spikes or time in the probes
    if mode == "monai-segresnet":
        return measure(section, mode, _segresnet, spatial, options)
    return measure_unet(section, mode, config, spatial, options, blocks)


def search_section(section: str, options: BenchOptions) -> list[Case]:
    """budget / depth / width searches under the memory budget, for every mode."""
    config, crop = options.config, options.search_crop
    results = []
    for mode in options.modes:
        if section == "budget":
            candidates = list(range(64, options.max_cube + 1, options.cube_step))
            probe = lambda size, mode=mode: probe_isolated(section, mode, config, (size,) * 3, options)  # noqa: E731
        elif section == "depth":
            candidates = list(range(1, options.max_blocks + 1))
            probe = lambda n, mode=mode: probe_isolated(  # noqa: E731
                section, mode, _with_blocks(config, n), (crop,) * 3, options, blocks=n)
        else:
            step = 2 * config.norm_groups
            candidates = list(range(step, options.max_width + 1, step))
            probe = lambda w, mode=mode: probe_isolated(  # noqa: E731
                section, mode, config.replace(base_width=w), (crop,) * 3, options)
        results.append(_search_row(section, mode, crop, config, candidates, probe))
    return results


def _search_row(section: str, mode: str, crop: int, config: UNetConfig, candidates: list[int],
                probe: Callable[[int], Case]) -> Case:
    best, probed = largest_fitting(candidates, probe)
    bound = " (search bound)" if best == candidates[-1] else ""
    summary = next((c for c in probed if c.ok and _value(section, c) == best), None)
    row = summary or Case(section, mode, (crop,) * 3, config.base_width, None, 0, status="nothing fits")
    row.note = f"best={best}{bound}; probed " + ", ".join(f"{_value(section, c)}:{c.status}" for c in probed)
    return row


def _value(section: str, case: Case) -> int:
    return {"depth": case.blocks_per_level or 0, "width": case.base_width}.get(section, case.spatial[0])


# ------------------------------------------------------------------------------------------ sections
def run_sections(options: BenchOptions) -> list[Case]:
    """Run the requested sections and return every result row."""
    config, results = options.config, []
    if (device := _cuda_index(options.device)) is not None:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
    for section in options.sections:
        if section == "crops":
            results += [measure_unet(section, m, config, crop, options) for crop in options.crops for m in options.modes]
        elif section == "blocks":
            for n in (1, 2, 4, 8):
                results += [measure_unet(section, m, _with_blocks(config, n), (options.search_crop,) * 3, options, n)
                            for m in options.modes if m != "checkpoint"]
        elif section == "brats":
            results += [measure_unet(section, m, config, (256, 256, 160), options) for m in options.modes]
        elif section in ("budget", "depth", "width"):
            results += search_section(section, options) if _cuda_index(options.device) is not None else []
        elif section == "peers":
            results += run_peers(options)
    return results


def _cuda_index(device: str) -> int | None:
    """CUDA device index of `device` (set_per_process_memory_fraction needs one), None for other devices."""
    parsed = torch.device(device)
    if parsed.type != "cuda":
        return None
    return parsed.index if parsed.index is not None else torch.cuda.current_device()


def _segresnet() -> nn.Module:
    from monai.networks.nets import SegResNet  # noqa: PLC0415 - optional peer

    return SegResNet(spatial_dims=3, in_channels=4, out_channels=3, init_filters=16,
                     blocks_down=(1, 2, 2, 4), blocks_up=(1, 1, 1))


def run_peers(options: BenchOptions) -> list[Case]:
    """MONAI SegResNet at the search crop and its largest cube, only when monai is importable."""
    label = "monai-segresnet"
    if importlib.util.find_spec("monai") is None:
        return [Case("peers", label, (0, 0, 0), 0, None, 0, status="skipped (monai not importable)")]
    rows = [measure("peers", label, _segresnet, (options.search_crop,) * 3, options)]
    if _cuda_index(options.device) is not None:
        candidates = list(range(64, options.max_cube + 1, options.cube_step))
        probe = lambda size: probe_isolated("peers-budget", label, options.config, (size,) * 3, options)  # noqa: E731
        rows.append(_search_row("peers-budget", label, options.search_crop, options.config, candidates, probe))
    return rows
