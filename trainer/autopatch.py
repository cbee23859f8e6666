"""The default training patch: the largest cube that trains within a GPU-memory budget, probed at start.

The reversible network makes large patches affordable (320^3 at batch 2 within 16 GiB on an H100, against
160^3 for the same network under ordinary autograd: docs/benchmarks.md), so by default the trainer takes the
largest that fits instead of a fixed 128^3. The probe runs full training steps on synthetic data of growing cube
sizes (multiples of 32) under ``torch.cuda.set_per_process_memory_fraction`` and stops at the first that runs
out of memory or at the largest case edge (a patch is clipped to the volume anyway). The choice is written to
the run folder, so a resumed run keeps it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist

from engine.model import UNetConfig
from trainer.data import CachedCase
from trainer.distributed import DistributedContext
from trainer.throughput import largest_patch

log = logging.getLogger(__name__)

AUTO_PATCH_FILE = "auto_patch.json"
STEP = 32


def choose_patch(context: DistributedContext, unet_config: UNetConfig, cases: Sequence[CachedCase], batch: int,
                 amp: bool, budget_gib: float, fallback: tuple[int, int, int], run_dir: Path) -> tuple[int, int, int]:
    """The cubic patch to train with (``fallback`` on the CPU or when nothing fits).

    Args:
        context: the process's device and rank; every rank probes its own GPU and the smallest result wins.
        unet_config: the network to train.
        cases: the training cases (their largest edge bounds the search).
        batch: patches per step per process.
        amp: bf16 autocast, as in training.
        budget_gib: GPU memory the training may use.
        fallback: the configured patch size.
        run_dir: the run folder (holds the choice for resumed runs).
    """
    saved = run_dir / AUTO_PATCH_FILE
    if saved.is_file():
        return tuple(json.loads(saved.read_text())["patch_size"])  # type: ignore[return-value]
    if context.device.type != "cuda" or budget_gib <= 0:
        return fallback
    largest_edge = max(max(case.shape) for case in cases)
    cap = max(4 * STEP, math.ceil(largest_edge / STEP) * STEP)
    result = largest_patch(context, unet_config, batch, amp, budget_gib, step=STEP, max_patch=cap)
    edge = _smallest_over_ranks(int(result["largest_patch"] or 0), context)
    torch.cuda.empty_cache()
    if edge == 0:
        log.warning("no patch of %d^3 or more trains within %.1f GiB; using %s", 4 * STEP, budget_gib, fallback)
        return fallback
    patch = (edge, edge, edge)
    if context.is_main:
        saved.write_text(json.dumps({"patch_size": patch, "budget_gib": budget_gib, "probes": result["probes"]}))
    log.info("patch %d^3: the largest that trains within %.1f GiB (probes %s)", edge, budget_gib, result["probes"])
    return patch


def _smallest_over_ranks(value: int, context: DistributedContext) -> int:
    if not context.is_distributed:
        return value
    tensor = torch.tensor([value], device=context.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return int(tensor.item())
