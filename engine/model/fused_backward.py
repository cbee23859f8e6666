"""Compiled graphs for the reversible couplings: one forward graph and one fused backward graph per branch.

Why: the eager reversible step is partly bound by the host. Its backward re-runs every F / G branch op by op in
Python on the autograd thread and then calls the autograd engine once per branch; with small volumes or deep
levels the GPU waits for the host. Compiling the blocks as modules (`RevSegUNet.compile_blocks`) adds an
AOTAutograd forward and backward call per branch and still recomputes through autograd.

Here each branch use becomes one compiled call:

* forward (no grad): ``out = base + branch(x)``, the coupling's addition fused in;
* backward: ``branch(x)`` recomputed, its vector-Jacobian product with the incoming gradient, the inversion
  ``base - branch(x)`` and the gradient sum ``grad_base + d x``, all in ONE graph. The graph is traced once per
  branch structure and input shape with ``make_fx`` (forward and ``torch.autograd.grad`` through it, recorded
  as ATen operations, with autocast's casts written out) and compiled by ``torch.compile`` as an inference
  graph. Inductor then fuses the recompute's element-wise work into the backward's, which eager execution
  cannot do.

Parameters are graph inputs, so every branch of the same structure and input shape (all F and G branches of
one U-Net level, encoder and decoder alike) shares one graph and one compilation.

Safety: a branch that draws random numbers (dropout, drop path), holds buffers (batch norm) or is itself
compiled keeps the eager path. Any error while tracing or compiling a graph is logged once and that graph
falls back to the eager path for good; training goes on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.model.precision import add_keeping_dtype, sub_keeping_dtype

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Autocast:
    device_type: str
    enabled: bool
    dtype: torch.dtype

    @classmethod
    def current(cls, device_type: str) -> _Autocast:
        try:
            enabled = torch.is_autocast_enabled(device_type)
            dtype = torch.get_autocast_dtype(device_type)
        except (RuntimeError, TypeError):
            return cls(device_type, False, torch.float32)
        return cls(device_type, enabled, dtype)

    def context(self) -> contextlib.AbstractContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def _tensor_key(t: torch.Tensor) -> tuple:
    return (tuple(t.shape), t.stride(), t.dtype, t.device)


def _strides(shape: tuple[int, ...], order: tuple[int, ...]) -> tuple[int, ...]:
    """Dense strides of `shape` with dimensions laid out in `order` (innermost last)."""
    strides, step = [0] * len(shape), 1
    for dim in reversed(order):
        strides[dim] = step
        step *= shape[dim]
    return tuple(strides)


def _canonical(t: torch.Tensor) -> torch.Tensor:
    """`t` with the strides of a fresh contiguous (or channels-last-3d) tensor, so that every call of a graph
    sees one stride pattern: a channel half of a batch-1 tensor differs only in its batch stride (a view with
    canonical strides addresses the same memory); a truly strided half is copied, as the norms would anyway."""
    shape = tuple(t.shape)
    if t.dim() == 5 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last_3d):
        order = (0, 2, 3, 4, 1)
    else:
        t, order = t.contiguous(), tuple(range(t.dim()))
    strides = _strides(shape, order)
    return t if t.stride() == strides else t.as_strided(shape, strides, t.storage_offset())


def _structure(branch: nn.Module) -> tuple:
    """What makes two branches trace to the same graph (cached on the module: it never changes)."""
    cached = branch.__dict__.get("_revseg_structure")
    if cached is None:
        params = tuple((name, tuple(p.shape), p.dtype, p.requires_grad) for name, p in branch.named_parameters())
        cached = (type(branch).__qualname__, repr(branch), params)
        branch.__dict__["_revseg_structure"] = cached
    return cached


class BranchCompiler:
    """Traces, compiles and caches the fused forward and backward graphs of reversible-coupling branches.

    Args:
        compile_kwargs: passed to `torch.compile` for every graph (e.g. ``backend="aot_eager"`` in tests);
            ``dynamic=False`` and ``fullgraph=True`` unless given.
    """

    def __init__(self, **compile_kwargs: Any) -> None:
        self.compile_kwargs = {"dynamic": False, "fullgraph": True, **compile_kwargs}
        if self.compile_kwargs.get("backend", "inductor") == "inductor" and "mode" not in self.compile_kwargs:
            # Keep the convolutions in the layout (and so the kernels) of the eager network: Inductor's layout
            # optimisation would move them to channels-last, where the depthwise 3D kernels differ.
            self.compile_kwargs.setdefault("options", {"layout_optimization": False})
        self.graphs: dict[tuple, Callable[..., Any] | None] = {}
        self.fallbacks = 0

    def __deepcopy__(self, memo: dict) -> BranchCompiler:
        return self  # graphs are keyed by structure and take parameters as inputs: a copied model can share them

    # ------------------------------------------------------------------------------------------ public
    @staticmethod
    def supports(branch: nn.Module) -> bool:
        """Whether `branch` may take the compiled path (deterministic, no buffers, not compiled itself)."""
        if getattr(branch, "_compiled_call_impl", None) is not None:
            return False
        if bool(getattr(branch, "has_randomness", True)):
            return False
        return not any(True for _ in branch.buffers())

    def forward(self, branch: nn.Module, base: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
        """``base + branch(x)`` (no grad) through a compiled graph; None when the eager path must run."""
        params = [p for _, p in branch.named_parameters()]
        base, x = _canonical(base), _canonical(x)
        autocast = _Autocast.current(x.device.type)
        key = ("forward", _structure(branch), _tensor_key(base), _tensor_key(x), autocast)
        inputs = (base, x, *params)
        graph = self._graph(key, branch, inputs, autocast, joint=False)
        if graph is None:
            return None
        result = self._run(key, graph, inputs, autocast)
        return None if result is None else result[0]

    def backward(self, branch: nn.Module, base: torch.Tensor, x: torch.Tensor, grad: torch.Tensor,
                 grad_other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]] | None:
        """One coupling half's backward in one compiled call.

        Args:
            branch: the F or G module.
            base: the coupling output half that the branch output was added to (y1 for F, y2 for G).
            x: the branch input (x2 for F, y1 for G).
            grad: gradient w.r.t. the branch output (= w.r.t. `base`).
            grad_other: gradient w.r.t. the other output half, to which the branch-input gradient is added.
        Returns:
            ``base - branch(x)`` (the reconstructed input half), ``grad_other + d branch / d x`` and the
            gradients of the branch's trainable parameters (named_parameters order), or None when the eager
            path must run.
        """
        params = [p for _, p in branch.named_parameters()]
        base, x, grad, grad_other = (_canonical(t) for t in (base, x, grad, grad_other))
        autocast = _Autocast.current(x.device.type)
        key = ("backward", _structure(branch), _tensor_key(base), _tensor_key(x), _tensor_key(grad),
               _tensor_key(grad_other), autocast)
        inputs = (base, x, grad, grad_other, *params)
        graph = self._graph(key, branch, inputs, autocast, joint=True)
        if graph is None:
            return None
        result = self._run(key, graph, inputs, autocast)
        if result is None:
            return None
        return result[0], result[1], tuple(result[2:])

    # ------------------------------------------------------------------------------------------ graphs
    def _graph(self, key: tuple, branch: nn.Module, inputs: tuple, autocast: _Autocast,
               joint: bool) -> Callable[..., Any] | None:
        if key in self.graphs:
            return self.graphs[key]
        try:
            traced = _trace(branch, inputs, autocast, joint)
            graph = torch.compile(traced, **self.compile_kwargs)
        except torch.cuda.OutOfMemoryError:
            raise  # the trace runs the branch for real: memory, not the compiler, ran out
        except Exception as error:  # noqa: BLE001 - any failure means: run this graph eagerly from now on
            self._give_up(key, "tracing", error)
            return None
        self.graphs[key] = graph
        return graph

    def _run(self, key: tuple, graph: Callable[..., Any], inputs: tuple, autocast: _Autocast) -> tuple | None:
        # The casts autocast would make are in the graph already: run it with autocast off.
        off = torch.autocast(autocast.device_type, enabled=False) if autocast.enabled else contextlib.nullcontext()
        try:
            with torch.no_grad(), off:
                return tuple(graph(*inputs))
        except torch.cuda.OutOfMemoryError:
            raise  # not a compiler problem: the caller's out-of-memory handling decides (the graph stays usable)
        except Exception as error:  # noqa: BLE001 - the first call compiles; a failure falls back to eager
            self._give_up(key, "compiling or running", error)
            return None

    def _give_up(self, key: tuple, stage: str, error: Exception) -> None:
        self.graphs[key] = None
        self.fallbacks += 1
        log.warning("compiled reversible %s graph failed while %s (%s: %s); this branch shape runs eagerly",
                    key[0], stage, type(error).__name__, str(error)[:300])


def _trace(branch: nn.Module, inputs: tuple, autocast: _Autocast, joint: bool) -> torch.fx.GraphModule:
    """ATen graph of the forward (``joint=False``) or of the fused backward (``joint=True``) of `branch`."""
    from torch.fx.experimental.proxy_tensor import make_fx  # noqa: PLC0415 - only compiled runs need it

    names = [name for name, _ in branch.named_parameters()]
    trainable = [p.requires_grad for _, p in branch.named_parameters()]

    def call(x: torch.Tensor, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return torch.func.functional_call(branch, dict(zip(names, params, strict=True)), (x,))

    def forward(base: torch.Tensor, x: torch.Tensor, *params: torch.Tensor) -> tuple[torch.Tensor]:
        return (add_keeping_dtype(base, call(x, params)),)

    def backward(base: torch.Tensor, x: torch.Tensor, grad: torch.Tensor, grad_other: torch.Tensor,
                 *params: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = call(x, params)
        wanted = [x] + [p for p, t in zip(params, trainable, strict=True) if t]
        grads = torch.autograd.grad(out, wanted, grad.to(out.dtype), allow_unused=True)
        grad_x = grads[0] if grads[0] is not None else torch.zeros_like(x)
        param_grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads[1:], wanted[1:], strict=True)]
        return (sub_keeping_dtype(base, out.detach()), add_keeping_dtype(grad_other, grad_x), *param_grads)

    if not joint:
        with torch.no_grad(), autocast.context():
            return make_fx(forward)(*(t.detach() for t in inputs))
    base, x, grad, grad_other, *params = (t.detach() for t in inputs)
    x.requires_grad_(True)
    params = [p.requires_grad_(t) for p, t in zip(params, trainable, strict=True)]
    with torch.enable_grad(), autocast.context():
        return make_fx(backward)(base, x, grad, grad_other, *params)
