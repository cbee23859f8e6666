"""Training throughput: reversible vs ordinary autograd at equal patch size, one GPU or several (torchrun).

    python -m trainer.throughput --patch 128 --batch 2 --steps 20 [--config FILE] [model.KEY=value ...]
    torchrun --standalone --nproc_per_node=2 -m trainer.throughput --patch 128 --batch 2

Synthetic inputs (random images, random BraTS labels), full training steps (forward, region loss, backward,
AdamW step) under bf16 autocast on CUDA. Prints one JSON line per mode: global patches per second over all
ranks, seconds per step and peak GPU memory of rank 0. Written for the GPU session; on the CPU it runs as a
smoke test.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace

import torch

from engine.model import UNetConfig, build_network
from engine.oom import is_out_of_memory
from trainer.config import load_config
from trainer.distributed import (
    DDP_MODES,
    DistributedContext,
    all_reduce_extremes,
    all_reduce_gradients,
    all_reduce_mean,
    init_distributed,
    leave_process,
    shutdown,
    wrap_model,
)
from trainer.losses import RegionLoss
from trainer.optim import autocast_context

log = logging.getLogger(__name__)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def patch_shape(text: str) -> tuple[int, int, int]:
    """"128" -> a 128^3 cube; "240,240,155" -> that box (the trainer's default patch on BraTS-sized volumes)."""
    try:
        edges = tuple(int(edge) for edge in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"patch must be N or D,H,W integers, got {text!r}") from None
    if len(edges) not in (1, 3) or min(edges) < 8:
        raise argparse.ArgumentTypeError(f"patch must be one edge or three, each >= 8, got {text!r}")
    return edges * 3 if len(edges) == 1 else edges  # type: ignore[return-value]


def measure(context: DistributedContext, unet_config: UNetConfig, patch: tuple[int, int, int], batch: int,
            steps: int, warmup: int, amp: bool, ddp_mode: str = "ddp",
            compile_blocks: bool = False) -> dict[str, float | None]:
    """Seconds per step and patches per second (all ranks) of full training steps on (D, H, W) ``patch``es.

    Also each rank's own time (fastest and slowest: a DDP step waits for the slower) and the CPU seconds per
    step of rank 0's main thread. That figure leaves out the CUDA backward, which runs on autograd's device
    thread, so it cannot show a launch-bound step; time batch 2 against batch 4 for that (docs/benchmarks.md,
    run V2).
    """
    device = context.device
    torch.manual_seed(context.rank)
    network = build_network(unet_config).to(device).train()
    if compile_blocks:
        network.compile_blocks()
    model = wrap_model(network, context, ddp_mode)
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-4)
    loss_fn = RegionLoss()
    image = torch.randn(batch, unet_config.in_channels, *patch, device=device)
    label = torch.randint(0, 3, (batch, *patch), device=device, dtype=torch.uint8)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for step in range(warmup + steps):
        if step == warmup:
            _synchronize(device)
            started, cpu_started = time.perf_counter(), time.thread_time()
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(device, amp):
            outputs = model(image)
        loss_fn(outputs, label).backward()
        if ddp_mode == "manual":
            all_reduce_gradients(network, context)
        optimizer.step()
    cpu_seconds = (time.thread_time() - cpu_started) / steps  # before the wait for the GPU
    _synchronize(device)
    own_seconds = (time.perf_counter() - started) / steps
    seconds = all_reduce_mean({"s": own_seconds}, context)["s"]
    fastest, slowest = all_reduce_extremes(own_seconds, context)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"seconds_per_step": seconds, "patches_per_s": batch * context.world_size / seconds,
            "fastest_rank_seconds_per_step": fastest, "slowest_rank_seconds_per_step": slowest,
            "cpu_seconds_per_step_rank0": cpu_seconds, "peak_gib_rank0": peak}


def largest_patch(context: DistributedContext, unet_config: UNetConfig, batch: int, amp: bool, budget_gib: float,
                  step: int = 32, max_patch: int = 512) -> dict[str, object]:
    """Largest cubic patch (a multiple of ``step``) whose training step fits in ``budget_gib`` of GPU memory.

    The cap is ``torch.cuda.set_per_process_memory_fraction``, so an allocation past it raises out-of-memory
    as on a card of that size. Probes grow by ``step`` until the first that does not fit.
    """
    device = context.device
    if device.type != "cuda":
        raise ValueError("the largest-patch search needs a CUDA device")
    total = torch.cuda.get_device_properties(device).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, budget_gib * 2**30 / total), device)
    probes: dict[int, float | None] = {}
    patch = 4 * step
    while patch <= max_patch:
        try:
            probes[patch] = measure(context, unet_config, (patch,) * 3, batch, steps=1, warmup=1,
                                    amp=amp)["peak_gib_rank0"]
        except Exception as error:  # noqa: BLE001 - only out-of-memory ends the search; the rest is re-raised
            if not is_out_of_memory(error):
                raise
            probes[patch] = None
        torch.cuda.empty_cache()
        if probes[patch] is None:
            break
        patch += step
    torch.cuda.set_per_process_memory_fraction(1.0, device)
    fitting = [p for p, peak in probes.items() if peak is not None]
    return {"largest_patch": max(fitting) if fitting else None, "budget_gib": budget_gib,
            "probes": {str(p): (round(v, 2) if v is not None else "OOM") for p, v in probes.items()}}


def _print(context: DistributedContext, record: dict[str, object]) -> None:
    if context.is_main:
        print(json.dumps(record), flush=True)  # noqa: T201 - a CLI's result lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--patch", type=patch_shape, default=(128, 128, 128),
                        help="cube edge N or box D,H,W (timing; the largest-patch search grows cubes from 128)")
    parser.add_argument("--batch", type=int, default=2, help="patches per step per process")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--config", help="TOML recipe whose [model] is measured (default: UNetConfig defaults)")
    parser.add_argument("--modes", default="reversible,plain")
    parser.add_argument("--ddp", default="ddp", help=f"comma list of DDP modes to time, of {','.join(DDP_MODES)}")
    parser.add_argument("--compile-blocks", action="store_true", help="torch.compile every MBConv block (CUDA)")
    parser.add_argument("--largest-in-gib", type=float, default=0.0,
                        help="instead of timing, find the largest cubic patch that trains in this many GiB")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    context = init_distributed(config.device)
    try:
        for mode in args.modes.split(","):
            unet = replace(config.unet_config(), reversible=(mode == "reversible"))
            if args.largest_in_gib > 0:
                result = largest_patch(context, unet, args.batch, config.amp, args.largest_in_gib)
                _print(context, {"mode": mode, **result})
                continue
            for ddp_mode in args.ddp.split(","):
                result = measure(context, unet, args.patch, args.batch, args.steps, args.warmup, config.amp, ddp_mode,
                                 args.compile_blocks)
                _print(context, {"mode": mode, "ddp": ddp_mode, "compile_blocks": args.compile_blocks,
                                 "patch": list(args.patch), "batch_per_process": args.batch,
                                 "processes": context.world_size, "device": str(context.device), **result})
    finally:
        shutdown(context)
    return leave_process(0, context)


if __name__ == "__main__":
    raise SystemExit(main())
