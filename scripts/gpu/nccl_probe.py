"""Time one all-reduce of the demo model's gradients (10.6 M values) between the GPUs of a torchrun job, in fp32
and bf16, with CUDA events; rank 0 prints milliseconds and the algorithm bandwidth. With NCCL_DEBUG=INFO the
transport NCCL chose (P2P over NVLink, SHM through the host, ...) is in the log.
Usage: torchrun --standalone --nproc_per_node=2 scripts/gpu/nccl_probe.py"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def time_all_reduce(numel: int, dtype: torch.dtype, repeats: int = 30) -> float:
    tensor = torch.ones(numel, dtype=dtype, device="cuda")
    for _ in range(5):
        dist.all_reduce(tensor)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    dist.barrier()
    torch.cuda.synchronize()
    start.record()
    for _ in range(repeats):
        dist.all_reduce(tensor)
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / repeats


def main() -> None:
    local_rank = int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl")
    for dtype in (torch.float32, torch.bfloat16):
        numel = 10_618_161
        ms = time_all_reduce(numel, dtype)
        if dist.get_rank() == 0:
            megabytes = numel * torch.finfo(dtype).bits / 8 / 1e6
            print(f"all-reduce {megabytes:.1f} MB {dtype}: {ms:.3f} ms, {megabytes / ms:.1f} GB/s algbw", flush=True)  # noqa: T201
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
