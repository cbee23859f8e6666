"""The whole training step (forward, loss, backward, clipping, optimiser) replayed as one CUDA graph.

Why: at 128^3 the step of the default network is bound by the host, not the GPU. On an H200 (run RS2,
docs/benchmarks.md) the reversible step with compiled branches took 125 ms of host time to enqueue 32 ms of GPU
work: about 6,600 kernel launches, the autograd engine and Dynamo's guards, all in Python. A CUDA graph records
those launches once and replays them with one call, so the step costs what the GPU needs.

How (the recipe of PyTorch's "whole network capture"): the first steps of a shape run eagerly on a side stream
(they compile the branches, create the optimiser's state and let cuDNN pick its kernels); the next one is
captured, with its batch copied into static input buffers, and every later step of that shape copies its batch
in and replays the graph. Each call is exactly one optimiser step, captured or not. The optimiser must be built
with ``capturable=True`` and a tensor learning rate (`trainer.optim.build_optimizer`), so that the step count and
the schedule live on the GPU.

Safety: a step whose shape differs from the captured one runs eagerly; a capture that fails is logged and every
later step runs eagerly (the numbers are the same, only slower). The capture forbids unsafe CUDA calls only in
its own thread, so the DataLoader's pin-memory thread may go on allocating pinned memory meanwhile. Graphs need one process per device with no
collective inside the step, so DDP keeps the eager step (`trainer.loop`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from trainer.config import TrainConfig

log = logging.getLogger(__name__)

StepFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Peak memory of a captured step over the eager one: 1.27x / 1.24x / 1.22x at 128^3 / 192^3 / 256x256x160 for the
# default reversible network (H200, run RS4), since the graph's pool keeps what the caching allocator would
# share. The trainer's patch probe, which measures eager steps, divides its budget by this.
GRAPH_MEMORY_MARGIN = 1.3


def graph_unsupported_reason(config: TrainConfig, device: torch.device, world_size: int) -> str:
    """Why this run's step cannot be a CUDA graph ("" when it can)."""
    unet = config.unet_config()
    reasons = [
        (not config.cuda_graph, "cuda_graph=false"),
        (device.type != "cuda", f"device {device.type}"),
        (world_size > 1, "DDP (its gradient all-reduce is not captured)"),
        (config.optimizer != "adamw", f"optimizer {config.optimizer} (only AdamW is built capturable)"),
        (unet.dropout > 0 or unet.drop_path > 0, "dropout / drop path (their random masks are not replayed)"),
    ]
    return "; ".join(reason for failed, reason in reasons if failed)


class GraphedStep:
    """Run `step` eagerly for the first steps of a batch shape, then as a captured CUDA graph.

    Args:
        step: one whole optimiser step of ``(image, label) -> loss`` (a detached scalar tensor). It must zero
            the gradients itself (``set_to_none=True``), must not synchronise with the host (no ``.item()``,
            no ``float()`` of a tensor) and must keep its tensors' shapes fixed for a fixed input shape.
        device: the CUDA device the step runs on.
        warmup_steps: eager steps of a shape before it is captured (at least 1: the optimiser's state and the
            compiled graphs must exist before the capture).
    """

    def __init__(self, step: StepFunction, device: torch.device, warmup_steps: int = 2) -> None:
        if device.type != "cuda":
            raise ValueError(f"a CUDA graph needs a CUDA device, not {device}; run the step function itself")
        if warmup_steps < 1:
            raise ValueError(f"warmup_steps must be at least 1, got {warmup_steps}")
        self.step, self.device, self.warmup_steps = step, device, warmup_steps
        self.graph: torch.cuda.CUDAGraph | None = None
        self.key: tuple | None = None
        self.seen = 0
        self.disabled_reason = ""
        self.replays = 0
        self.eager_steps = 0
        self._static: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._side_stream = torch.cuda.Stream(device)

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """One optimiser step on this batch; returns the loss. After a capture the loss is the graph's static output,
        overwritten by the next step: read it (or clone it) before calling again."""
        key = (tuple(image.shape), image.dtype, tuple(label.shape), label.dtype)
        if self.graph is not None and key == self.key:
            return self._replay(image, label)
        if self.disabled_reason or (self.key is not None and key != self.key):
            return self._eager(image, label)
        self.key = key
        self.seen += 1
        if self.seen <= self.warmup_steps:
            return self._eager(image, label)
        return self._capture_and_run(image, label)

    def _eager(self, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """One ordinary step, on a side stream as a capture's warm-up must be (harmless later)."""
        self.eager_steps += 1
        current = torch.cuda.current_stream(self.device)
        self._side_stream.wait_stream(current)
        with torch.cuda.stream(self._side_stream):
            loss = self.step(image, label)
        current.wait_stream(self._side_stream)
        return loss

    def _capture_and_run(self, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        static_image, static_label = image.clone(), label.clone()
        graph = torch.cuda.CUDAGraph()
        try:
            torch.cuda.synchronize(self.device)
            # "thread_local", not the default "global": a global capture forbids unsafe CUDA calls in *every*
            # thread, and the DataLoader's pin-memory thread makes them (cudaHostAlloc, cudaEventQuery on the
            # host allocator's freed blocks). Runs R34-R35 (docs/benchmarks.md) lost two training runs that way: the
            # capture was invalidated, and the pin thread's call failed and killed the loader a few steps later.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                static_loss = self.step(static_image, static_label)
        except Exception as error:  # noqa: BLE001 - any capture failure means: train without the graph
            self.disabled_reason = f"{type(error).__name__}: {str(error)[:300]}"
            log.warning("whole-step CUDA graph unavailable (%s): training runs without it", self.disabled_reason)
            torch.cuda.synchronize(self.device)
            return self._eager(image, label)
        self.graph, self._static = graph, (static_image, static_label, static_loss)
        torch.cuda.empty_cache()  # the warm-up's blocks cached for the side stream: the graph has its own pool
        log.info("training step captured as a CUDA graph for batch shape %s", tuple(image.shape))
        graph.replay()  # the capture only recorded the step: this runs it
        self.replays += 1
        return static_loss

    def _replay(self, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        static_image, static_label, static_loss = self._static  # type: ignore[misc]
        static_image.copy_(image, non_blocking=True)
        static_label.copy_(label, non_blocking=True)
        self.graph.replay()  # type: ignore[union-attr]
        self.replays += 1
        return static_loss
