"""Issue 19: the reversible training step in the trainer's default CUDA mode against the plain network.

One process, one GPU. For each crop it times full training steps (forward, BCE + soft-Dice loss in float32,
backward, AdamW step; bf16 autocast; batch 1, 4 input channels; the default `UNetConfig`) in these modes:

* ``plain-eager``: the plain-autograd twin (same weights, ordinary autograd), eager;
* ``plain-compiled``: the twin with every MBConv block `torch.compile`d (`RevSegUNet.compile_blocks`);
* ``plain-graphed``: the compiled twin with the whole step captured as one CUDA graph (`trainer.graphed_step`);
* ``reversible-default``: the reversible network as the trainer runs it on CUDA by default
  (`TrainConfig().compile_blocks` -> `RevSegUNet.compile_for_training`, and with `TrainConfig().cuda_graph` the
  whole step as one CUDA graph);
* ``reversible-compiled``: compiled forward and fused backward graphs without the whole-step graph (the default
  of run RS1);
* ``reversible-eager``: the earlier eager reversible backward, for reference.

Reported: median step ms after warm-up (the first steps pay the compilations), peak CUDA memory
(``max_memory_allocated`` over the timed steps, reset after the warm-up; for the graphed modes reset before the
capture, so that the memory the captured step allocates counts), and per crop the ratio of the default reversible step
to the fastest plain mode (bound 1.35, goal 1.25); the 128^3 peak ratio reversible-default / plain-eager (bound
0.35). JSON to ``--json``; a markdown table is printed last.

    python scripts/gpu/bench_reversible_step.py --json $OUT/reversible_step.json      (GPU)
    python scripts/gpu/bench_reversible_step.py --smoke --json /tmp/rs.json            (CPU, tiny, for tests)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import json
import logging
import multiprocessing
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.model import RevSegUNet, UNetConfig, build_network  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.graphed_step import GraphedStep  # noqa: E402
from trainer.optim import build_optimizer  # noqa: E402

log = logging.getLogger("bench_reversible_step")

MODES = ("plain-eager", "reversible-eager", "reversible-compiled", "reversible-default", "plain-compiled",
         "plain-graphed")
PLAIN_MODES = ("plain-eager", "plain-compiled", "plain-graphed")
# Modes that compile the same graphs: the pre-warm compiles each family once per crop.
COMPILE_FAMILY = {"reversible-compiled": "reversible-compiled", "reversible-default": "reversible-compiled",
                  "plain-compiled": "plain-compiled", "plain-graphed": "plain-compiled"}
SMOKE_CONFIG = UNetConfig(base_width=8, width_multipliers=(1, 2, 3), encoder_blocks=(1, 2, 1),
                          decoder_blocks=(1, 1), norm_groups=4)
GIB = 2**30
BENCH_OPTIMIZER = TrainConfig(lr=1e-4, weight_decay=0.01)  # AdamW as in runs RS1-RS4


@dataclass
class Row:
    crop: str
    mode: str
    step_ms: float | None = None
    peak_gib: float | None = None
    first_step_s: float | None = None
    status: str = "ok"
    crop_index: int = 0
    host_ms: float | None = None  # time to enqueue one step; close to step_ms when the host is the bottleneck
    round: int = 0


def build(mode: str, config: UNetConfig, device: torch.device, compile_kwargs: dict) -> RevSegUNet:
    """The network of one mode, on `device`, in training mode."""
    network = build_network(config).to(device).train()
    if mode.startswith("plain"):
        network.set_execution_mode("plain")
        if mode in ("plain-compiled", "plain-graphed"):
            network.compile_blocks(**compile_kwargs)
        return network
    network.set_execution_mode("reversible")
    default_compiles = mode == "reversible-default" and TrainConfig().compile_blocks  # the trainer's CUDA default
    if default_compiles or mode == "reversible-compiled":
        network.compile_for_training(**compile_kwargs)
    return network


def graphed(mode: str, device: torch.device) -> bool:
    """Whether `mode` runs its whole step as a CUDA graph."""
    default = mode == "reversible-default" and TrainConfig().cuda_graph
    return device.type == "cuda" and (mode == "plain-graphed" or default)


def loss_of(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    logits = logits.float()
    probabilities = torch.sigmoid(logits)
    dims = tuple(range(2, logits.dim()))
    dice = (2 * (probabilities * target).sum(dims) + 1) / (probabilities.sum(dims) + target.sum(dims) + 1)
    return F.binary_cross_entropy_with_logits(logits, target) + (1 - dice).mean()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(network: RevSegUNet, crop: tuple[int, int, int], device: torch.device, warmup: int, iters: int,
               bf16: bool, profile_to: Path | None = None,
               whole_step_graph: bool = False) -> tuple[float, float | None, float, float, str]:
    """(median step ms, peak GiB over the timed steps or None off CUDA, seconds of the first step, median host ms:
    the time until the step is enqueued, before the synchronisation, and a note: why the graph failed, or "")."""
    optimizer = build_optimizer(network, BENCH_OPTIMIZER, capturable=whole_step_graph)
    generator = torch.Generator(device="cpu").manual_seed(0)
    image = torch.randn(1, network.config.in_channels, *crop, generator=generator).to(device)
    target = (torch.rand(1, network.config.out_channels, *crop, generator=generator) > 0.5).float().to(device)

    def optimiser_step(image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=not whole_step_graph):
            logits = network(image)
        loss = loss_of(logits, target)
        loss.backward()
        optimizer.step()
        return loss.detach()

    runner = GraphedStep(optimiser_step, device) if whole_step_graph else optimiser_step

    def step() -> None:
        runner(image, target)

    first = time.perf_counter()
    step()
    sync(device)
    first_s = time.perf_counter() - first
    for index in range(max(warmup - 1, 0)):
        if whole_step_graph and index == runner.warmup_steps - 1:  # the next call captures the graph
            sync(device)  # the peak covers the capture and the replays, not the eager warm-up (cuDNN's probing)
            torch.cuda.reset_peak_memory_stats(device)
        step()
    sync(device)
    if device.type == "cuda" and not whole_step_graph:
        torch.cuda.reset_peak_memory_stats(device)
    times, host = [], []
    note = f"graph capture failed: {runner.disabled_reason}" if getattr(runner, "disabled_reason", "") else ""
    if not iters:
        return float("nan"), None, first_s, float("nan"), note
    for _ in range(iters):
        start = time.perf_counter()
        step()
        host.append((time.perf_counter() - start) * 1e3)
        sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    peak = torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None
    if profile_to is not None:
        profile_steps(step, device, profile_to)
    return statistics.median(times), peak, first_s, statistics.median(host), note


def profile_steps(step, device: torch.device, path: Path, steps: int = 3) -> None:
    """Where a step's time goes: `torch.profiler` over a few steps, the top operators by host and device time."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        for _ in range(steps):
            step()
        sync(device)
    averages = profiler.key_averages()
    sections = [f"{steps} steps; top operators by self host time", averages.table(sort_by="self_cpu_time_total",
                                                                                 row_limit=25)]
    if device.type == "cuda":
        sections += ["top operators by self device time", averages.table(sort_by="self_cuda_time_total",
                                                                          row_limit=25)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(sections))


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measure(mode: str, crop: tuple[int, int, int], args: argparse.Namespace, device: torch.device,
            deadline: float, round_index: int = 0) -> Row:
    row = Row("x".join(map(str, crop)), mode, crop_index=args.crops.index(crop), round=round_index)
    if time.monotonic() > deadline:
        row.status = "skipped (time limit)"
        return row
    release(device)
    torch.manual_seed(0)
    network = None
    try:
        network = build(mode, args.config, device, args.compile_kwargs)
        profile_to = None
        if args.profile and round_index == 0 and crop == args.crops[0]:
            profile_to = args.json.parent / f"profile_{mode}_{row.crop}.txt"
        row.step_ms, row.peak_gib, row.first_step_s, row.host_ms, note = time_steps(
            network, crop, device, args.warmup, args.iters, args.bf16, profile_to, graphed(mode, device))
        compiler = network.encoders[0].compiler
        notes = [note] if note else []
        if compiler is not None and compiler.fallbacks:
            notes.append(f"{compiler.fallbacks} graph(s) fell back to eager")
        row.status = f"ok ({'; '.join(notes)})" if notes else "ok"
    except Exception as error:  # noqa: BLE001 - every failure becomes a row of the report
        row.status = f"error: {type(error).__name__}: {str(error)[:200]}"
        log.exception("%s at %s failed", mode, crop)
    finally:
        network = None
        release(device)
    log.info("%s %s (round %d): %s ms (host %s ms), peak %s GiB, first step %s s (%s)", mode, row.crop,
             round_index, _fmt(row.step_ms), _fmt(row.host_ms), _fmt(row.peak_gib, 2), _fmt(row.first_step_s, 1),
             row.status)
    return row


def static_compilation() -> None:
    """One static compilation per crop, in this process and in the pre-warm workers alike: without this, Dynamo
    would recompile the compiled twin's blocks with dynamic shapes at the second crop here but not in a worker,
    and the cached graphs would not match. Training uses one patch size, so static is what it runs too."""
    torch._dynamo.config.automatic_dynamic_shapes = False
    torch._inductor.config.fx_graph_cache = True


def _prewarm_one(mode: str, crop: tuple[int, int, int], args: argparse.Namespace, device_type: str) -> str:
    """Worker: build `mode`, run one training step at `crop` (compiling, filling Inductor's on-disk caches)."""
    static_compilation()
    device = torch.device(device_type)
    start = time.perf_counter()
    network = build(mode, args.config, device, args.compile_kwargs)
    time_steps(network, crop, device, warmup=1, iters=0, bf16=args.bf16)
    return f"{mode} {crop}: compiled in {time.perf_counter() - start:.0f} s"


def prewarm(args: argparse.Namespace, timeout_s: float, device: torch.device) -> list[str]:
    """Compile every compiled mode x crop at once, one spawned process each, before anything is timed.

    Inductor's lowering runs in one thread per process, so compiling the 3 crops x 2 compiled modes side by
    side takes about as long as the slowest one; the timed runs then load the graphs from Inductor's caches.
    Workers still running after `timeout_s` are stopped (the timed runs then compile what is missing)."""
    families = sorted({COMPILE_FAMILY[m] for m in args.modes if m in COMPILE_FAMILY})
    jobs = [(m, c) for m in families for c in args.crops]
    if not jobs:
        return []
    start = time.monotonic()
    notes = []
    pool = concurrent.futures.ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context("spawn"))
    futures = [pool.submit(_prewarm_one, mode, crop, args, device.type) for mode, crop in jobs]
    done, pending = concurrent.futures.wait(futures, timeout=timeout_s)
    for future in done:
        error = future.exception()
        notes.append(future.result() if error is None else f"failed: {type(error).__name__}: {str(error)[:200]}")
        log.info("pre-warm %s", notes[-1])
    if pending:
        notes.append(f"{len(pending)} job(s) still compiling after {timeout_s:.0f} s: stopped")
        log.warning("pre-warm: %s", notes[-1])
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
    pool.shutdown(wait=not pending, cancel_futures=True)
    notes.append(f"pre-warm took {time.monotonic() - start:.0f} s")
    log.info(notes[-1])
    return notes


def best_rows(rows: list[Row]) -> list[Row]:
    """Per (crop, mode), the round with the lowest median step: measuring every row in several rounds, crops in a
    rotated order, keeps an order effect (the first crop of a mode ran slow in run RS1) out of the figures."""
    best: dict[tuple[str, str], Row] = {}
    for row in rows:
        key = (row.crop, row.mode)
        if key not in best or (row.step_ms is not None and (best[key].step_ms is None or row.step_ms < best[key].step_ms)):
            best[key] = row
    return list(best.values())


def summarise(rows: list[Row], crops: list[str]) -> dict:
    by = {(r.crop, r.mode): r for r in best_rows(rows)}
    summary: dict[str, dict] = {}
    for crop in crops:
        timed = [m for m in PLAIN_MODES if (crop, m) in by and by[(crop, m)].step_ms]
        fastest = min(by[(crop, m)].step_ms for m in timed) if timed else None
        entry: dict[str, object] = {"fastest_plain_ms": fastest, "plain_modes_timed": timed}
        for mode in ("reversible-default", "reversible-compiled", "reversible-eager"):
            row = by.get((crop, mode))
            ok = row is not None and row.step_ms and fastest
            entry[f"{mode}_ratio"] = round(row.step_ms / fastest, 3) if ok else None
        summary[crop] = entry
    first = crops[0] if crops else None
    if first is not None:
        reversible, plain = by.get((first, "reversible-default")), by.get((first, "plain-eager"))
        if reversible and plain and reversible.peak_gib and plain.peak_gib:
            summary[first]["peak_ratio_default_vs_plain_eager"] = round(reversible.peak_gib / plain.peak_gib, 3)
        for other in ("plain-compiled", "plain-graphed"):
            compiled = by.get((first, other))
            if reversible and compiled and reversible.peak_gib and compiled.peak_gib:
                key = f"peak_ratio_default_vs_{other.replace('-', '_')}"
                summary[first][key] = round(reversible.peak_gib / compiled.peak_gib, 3)
    return summary


def table(rows: list[Row], summary: dict) -> str:
    rows = sorted(best_rows(rows), key=lambda r: (r.crop_index, MODES.index(r.mode)))
    lines = ["| crop | mode | step ms | host ms | peak GiB | first step s | / fastest plain | round | status |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio = summary.get(row.crop, {}).get(f"{row.mode}_ratio")
        lines.append(f"| {row.crop} | {row.mode} | {_fmt(row.step_ms)} | {_fmt(row.host_ms)} | {_fmt(row.peak_gib, 2)} | "
                     f"{_fmt(row.first_step_s, 1)} | {_fmt(ratio, 2)} | {row.round} | {row.status} |")
    for crop, entry in summary.items():
        for key, value in entry.items():
            if key.startswith("peak_ratio"):
                lines.append(f"{crop} {key}: {value}")
    return "\n".join(lines)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def parse_crop(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.lower().split("x")]
    parts = parts * 3 if len(parts) == 1 else parts
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"crop {text!r} must be N or DxHxW")
    return tuple(parts)  # type: ignore[return-value]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crops", default="128,192,256x256x160")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (the first pays the compilations)")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=270.0, help="skip what is left after this")
    parser.add_argument("--prewarm-seconds", type=float, default=150.0,
                        help="compile all compiled modes and crops side by side first, for at most this long (0: off)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="measure every row this many times, crops rotated per round; the best round counts")
    parser.add_argument("--profile", action="store_true",
                        help="write torch.profiler's top operators per mode at the first crop next to --json")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny model and crops, aot_eager compile backend")
    args = parser.parse_args(argv)
    args.modes = [m for m in args.modes.split(",") if m]
    if unknown := sorted(set(args.modes) - set(MODES)):
        parser.error(f"unknown mode(s) {unknown}; use {list(MODES)}")
    args.crops = [parse_crop(c) for c in args.crops.split(",") if c]
    args.config, args.bf16, args.compile_kwargs = UNetConfig(), True, {}
    if args.smoke:
        args.config, args.crops = SMOKE_CONFIG, [(16, 16, 16), (24, 16, 16)][: len(args.crops)]
        args.warmup, args.iters, args.compile_kwargs = 1, 1, {"backend": "aot_eager"}
        args.prewarm_seconds = min(args.prewarm_seconds, 120.0)
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    device = torch.device("cpu" if args.smoke else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: use --smoke for the CPU path", file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.max_seconds
    static_compilation()
    args.prewarm_notes = prewarm(args, args.prewarm_seconds, device) if args.prewarm_seconds > 0 else []
    crops = ["x".join(map(str, c)) for c in args.crops]
    # Mode by mode, cheap eager modes first, so a run cut short by compilation time still has the key rows;
    # the JSON is rewritten after every row for the same reason.
    rows: list[Row] = []
    for round_index in range(max(args.rounds, 1)):
        shift = round_index % len(args.crops)
        for mode in args.modes:
            for crop in args.crops[shift:] + args.crops[:shift]:
                rows.append(measure(mode, crop, args, device, deadline, round_index))
                write_json(args, rows, summarise(rows, crops), device)
    summary = summarise(rows, crops)
    print(table(rows, summary))
    return 0 if all(r.status.startswith(("ok", "skipped")) for r in rows) else 1


def write_json(args: argparse.Namespace, rows: list[Row], summary: dict, device: torch.device) -> None:
    meta = {"torch": torch.__version__, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "trainer_default_compile_blocks": TrainConfig().compile_blocks,
            "trainer_default_cuda_graph": TrainConfig().cuda_graph, "warmup": args.warmup,
            "iters": args.iters, "rounds": args.rounds, "bf16": args.bf16, "smoke": args.smoke, "prewarm": args.prewarm_notes,
            "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows], "summary": summary}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
