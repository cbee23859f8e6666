"""CUDA graphs for the predictor's network forward: one capture per tile-batch shape, replayed for every batch.

Why: the eager forward of the default network on a batch of four 128^3 tiles launches about a thousand small
kernels, and on an H100 the GPU sat idle for about 40 % of it (41 ms per forward against 25 ms of kernel time,
docs/benchmarks.md): the deep levels are 8^3 - 16^3 voxels, where a kernel takes less time than its launch. A
replayed graph launches them all at once.

How: the first forward of a shape runs eagerly (it is the warm-up: Triton compiles its kernels, cuDNN and cuBLAS
create their handles); the second is captured into a graph whose memory comes from one pool shared by all the
shapes (a replay's output is copied out at once, so no graph needs another's memory to stay as it left it); later
ones copy the batch into the graph's input and replay it. A shape whose capture fails runs eagerly from then on,
with a warning. ``release()`` gives the graphs' memory back (the predictor calls it before an out-of-memory
retry). A graph reads the parameters at the addresses they had at capture: when they move (``.cpu()`` and back,
a replaced tensor), the graphs are dropped and captured again; in-place updates (``load_state_dict``) are seen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.model.precision import cuda_autocast_dtype
from engine.oom import is_out_of_memory

log = logging.getLogger(__name__)

ShapeKey = tuple[tuple[int, ...], torch.dtype, torch.device, torch.dtype | None]


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    inputs: torch.Tensor
    outputs: torch.Tensor


class GraphedForward:
    """``forward(batch)`` of a network on CUDA through captured graphs (see the module docstring).

    Call it inside the same ``torch.inference_mode`` / autocast the network would run under; the autocast dtype is
    part of a graph's key. The returned tensor is the caller's own (a copy of the graph's output).

    Args:
        forward: the network (or its compiled form); a CUDA tensor in, a tensor out, no host synchronisation.
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.forward = forward
        self._graphs: dict[ShapeKey, _Captured] = {}
        self._warmed: set[ShapeKey] = set()
        self._eager_only: set[ShapeKey] = set()
        self._pool: tuple[int, int] | None = None
        self._captured_storage: tuple[int, ...] = ()

    @property
    def captured_shapes(self) -> int:
        return len(self._graphs)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if not batch.is_cuda:
            return self.forward(batch)
        storage = self._storage()
        if storage != self._captured_storage:
            if self._graphs:
                log.info("the network's parameters moved since the CUDA graphs were captured: capturing again")
            self.release()
            self._captured_storage = storage
        key = _key(batch)
        captured = self._graphs.get(key)
        if captured is None:
            if key in self._eager_only:
                return self.forward(batch)
            if key not in self._warmed:
                self._warmed.add(key)
                with _capture_autocast(key):  # as the capture will run (a compiled forward then needs no recompile)
                    return self.forward(batch)
            captured = self._capture(batch, key)
            if captured is None:
                return self.forward(batch)
        with torch.cuda.device(batch.device):  # a graph replays on the current device's stream: make it the batch's
            captured.inputs.copy_(batch)
            captured.graph.replay()
            return captured.outputs.clone()

    def _storage(self) -> tuple[int, ...]:
        """Where the parameters and buffers live: a graph reads these addresses, so a move (``.to()``, ``.cpu()``
        and back) must not be replayed over."""
        module = self.forward if isinstance(self.forward, torch.nn.Module) else None
        if module is None:
            return ()
        return tuple(t.data_ptr() for t in (*module.parameters(), *module.buffers()))

    def release(self) -> None:
        """Drop every graph (their memory returns to PyTorch's cache; empty it to give it back to the driver)."""
        self._graphs.clear()
        self._warmed.clear()
        self._pool = None

    def _capture(self, batch: torch.Tensor, key: ShapeKey) -> _Captured | None:
        if self._pool is None:
            with torch.cuda.device(batch.device):
                self._pool = torch.cuda.graph_pool_handle()
        inputs = batch.clone()
        graph = torch.cuda.CUDAGraph()
        try:
            # The capture stream belongs to the current device: make it the batch's (cuda:N in batch mode), or
            # the kernels would run outside the capture and the graph would replay nothing.
            with torch.cuda.device(batch.device), _capture_autocast(key), \
                    torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
                outputs = self.forward(inputs)
        except Exception as error:  # noqa: BLE001 - any capture failure falls back to eager, logged
            out_of_memory = _out_of_memory_in(error)
            if out_of_memory is not None:
                raise out_of_memory from None  # the predictor frees memory and retries smaller
            log.warning("CUDA graph capture of a %s batch failed (%s: %s); running it eagerly",
                        tuple(batch.shape), type(error).__name__, error)
            self._eager_only.add(key)
            return None
        captured = _Captured(graph, inputs, outputs)
        self._graphs[key] = captured
        log.info("captured a CUDA graph of the network for a %s batch", tuple(batch.shape))
        return captured


def _out_of_memory_in(error: BaseException) -> BaseException | None:
    """The out-of-memory error itself, or the one that ending a failed capture replaced (its ``__context__``)."""
    for candidate in (error, error.__context__):
        if candidate is not None and is_out_of_memory(candidate):
            return candidate
    return None


def _capture_autocast(key: ShapeKey) -> torch.autocast:
    """The key's autocast with the weight-cast cache off: cached casts would be freed when autocast exits, under a
    graph that still reads them (PyTorch's CUDA graph notes)."""
    amp_dtype = key[3]
    return torch.autocast("cuda", dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None,
                          cache_enabled=False)


def _key(batch: torch.Tensor) -> ShapeKey:
    return tuple(batch.shape), batch.dtype, batch.device, cuda_autocast_dtype()

