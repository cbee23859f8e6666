"""torchrun / DDP plumbing: the same command runs on the CPU, one GPU, several GPUs or several nodes.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; without them the run is a single
process and no process group is created. NCCL is used on CUDA, gloo on the CPU. Only rank 0 writes files
(checkpoints, logs); metrics are averaged over ranks with all-reduce.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: rank, world size, local rank and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """"auto" -> this process's GPU when CUDA is there, else the CPU; "cuda" -> cuda:LOCAL_RANK."""
    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {name!r}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but PyTorch sees no CUDA GPU; use device=cpu")
    return torch.device(name if ":" in name else f"cuda:{local_rank}")


def init_distributed(device_name: str = "auto") -> DistributedContext:
    """Join the torchrun process group when launched by torchrun; otherwise a single-process context."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistributedContext(device=resolve_device(device_name))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # Rank 0 builds the preprocessing cache while the others wait at a barrier: allow hours, not minutes.
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world,
                                timeout=datetime.timedelta(hours=3))
    log.info("process %d of %d on %s", rank, world, device)
    return DistributedContext(rank, world, local_rank, device)


DDP_MODES = ("ddp", "static", "bigbucket", "bf16", "manual", "independent")


def wrap_model(model: nn.Module, context: DistributedContext, mode: str = "ddp") -> nn.Module:
    """DistributedDataParallel around ``model`` in a process group, the model itself otherwise.

    Args:
        mode: "ddp" (defaults), "static" (``static_graph=True``), "bigbucket" (100 MB buckets as views of the
            gradients), "bf16" (gradients all-reduced as bfloat16, DDP's ``bf16_compress_hook``; CUDA only) or
            "manual": no wrapper; call ``all_reduce_gradients`` after each backward. The reversible
            sequences hand DDP all of their gradients at once at the end of their backward, so DDP's overlap
            of communication with the backward is lost; these modes are measured against each other.
            "independent" (a diagnostic for throughput runs, never for training): no wrapper and no gradient
            exchange, each rank trains alone; N GPUs side by side, the ceiling any DDP mode can reach.
    """
    if mode not in DDP_MODES:
        raise ValueError(f"unknown DDP mode {mode!r}; use one of {DDP_MODES}")
    if mode == "bf16" and context.device.type != "cuda":
        raise ValueError("DDP mode 'bf16' (bf16_compress_hook) needs NCCL on CUDA; use mode 'ddp' on the CPU")
    if not context.is_distributed or mode in ("manual", "independent"):
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    options = {"static": {"static_graph": True},
               "bigbucket": {"bucket_cap_mb": 100, "gradient_as_bucket_view": True}}.get(mode, {})
    wrapped = nn.parallel.DistributedDataParallel(model, device_ids=device_ids, **options)
    if mode == "bf16":
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        wrapped.register_comm_hook(None, default_hooks.bf16_compress_hook)
    return wrapped


def all_reduce_gradients(model: nn.Module, context: DistributedContext) -> None:
    """Average the gradients over ranks in one flat all-reduce (the "manual" mode of ``wrap_model``)."""
    if not context.is_distributed:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch._utils._flatten_dense_tensors(grads)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= context.world_size
    for grad, reduced in zip(grads, torch._utils._unflatten_dense_tensors(flat, grads), strict=True):
        grad.copy_(reduced)


def all_reduce_mean(values: dict[str, float], context: DistributedContext) -> dict[str, float]:
    """Average each value over ranks (the identity in a single process)."""
    if not context.is_distributed or not values:
        return dict(values)
    keys = sorted(values)
    sums = _all_reduce_floats([float(values[k]) for k in keys], context, dist.ReduceOp.SUM)
    return {key: total / context.world_size for key, total in zip(keys, sums, strict=True)}


def all_reduce_extremes(value: float, context: DistributedContext) -> tuple[float, float]:
    """The smallest and the largest of ``value`` over ranks (itself twice in a single process)."""
    if not context.is_distributed:
        return value, value
    negated_min, largest = _all_reduce_floats([-value, value], context, dist.ReduceOp.MAX)
    return -negated_min, largest


def _all_reduce_floats(values: list[float], context: DistributedContext, op: dist.ReduceOp) -> list[float]:
    """One all-reduce of a few float64 values (on the GPU under NCCL, which reduces nothing on the CPU)."""
    tensor = torch.tensor(values, dtype=torch.float64,
                          device=context.device if context.device.type == "cuda" else "cpu")
    dist.all_reduce(tensor, op=op)
    return tensor.tolist()


def barrier(context: DistributedContext) -> None:
    if context.is_distributed:
        dist.barrier()


def shutdown(context: DistributedContext) -> None:
    """Leave the process group together: ranks that tore it down while rank 0 still wrote files hung at exit
    now and then (seen with gloo under torchrun on the CPU)."""
    if context.is_distributed:
        dist.barrier()
        dist.destroy_process_group()


def leave_process(code: int, context: DistributedContext) -> int:
    """``code`` in a single process; a torchrun process ends here instead (call it after ``shutdown``), flushing
    its output and skipping the interpreter's teardown.

    Gloo's C++ worker threads outlive ``destroy_process_group`` while DDP still holds the group, and they are
    torn down with the interpreter. Once in many CPU runs a rank aborted there, after every file was written
    ("terminate called without an active exception", SIGABRT), and torchrun failed the whole run (CI run of
    2026-12-01, tests/trainer/test_ddp_two_processes.py). Nothing is left to do at that point but exit.
    """
    if not context.is_distributed:
        return code
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def autograd_sum_over_ranks(context: DistributedContext) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """An all-reduce (sum) that back-propagates, for losses over the global batch; None in one process.

    The backward all-reduces the gradients too, which DDP's averaging then turns into exactly the gradient of
    one process holding the whole global batch.
    """
    if not context.is_distributed:
        return None
    from torch.distributed.nn.functional import all_reduce

    return all_reduce
