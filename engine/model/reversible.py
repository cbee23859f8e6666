"""Reversible (RevNet additive) couplings and the memory-saving autograd Function that runs a sequence of them.

A coupling splits channels into halves and computes ``y1 = x1 + F(x2)``, ``y2 = x2 + G(y1)``; its inverse is
``x2 = y2 - G(y1)``, ``x1 = y1 - F(x2)``. `ReversibleSequence` runs its couplings in one of three modes:

* ``"reversible"``: one `_ReversibleFunction` per sequence stores only the sequence output. Its backward walks
  the couplings in reverse, recomputes G(y1) and F(x2) once each under grad, back-propagates through them
  with `torch.autograd.grad` and reconstructs the block input from the output. Activation memory is then
  independent of the number of blocks.
* ``"plain"``: ordinary autograd (the "twin" with the same weights, for tests and benchmarks).
* ``"checkpoint"``: the plain twin inside `torch.utils.checkpoint` (non-reentrant), one checkpoint per sequence.

Design notes (the idea follows RevNet and reformer-pytorch's reversible.py, written afresh here):

* The parameters of the sequence are passed to the Function as inputs and its backward *returns* their
  gradients. Autograd then accumulates them through the parameters' ordinary AccumulateGrad nodes, so
  DistributedDataParallel's reducer hooks fire as usual and ``find_unused_parameters=False`` works.
* Random state: when a branch draws random numbers (dropout, drop path) the CPU and the input device's RNG
  states are recorded before each F / G call and restored (inside `torch.random.fork_rng`) for the recompute.
* Autocast: the forward's autocast state (enabled, dtype, cache) is recorded and re-entered in backward,
  which the autograd engine runs on threads where autocast is off.
* Buffers (batch-norm running statistics) are restored after the recompute so they are updated once per step.
* Compiled graphs (`RevSegUNet.compile_reversible`, the trainer's default on CUDA): a sequence with a
  ``compiler`` runs each supported branch as one compiled forward graph and one fused backward graph
  (`engine.model.fused_backward`); everything above holds for them too, and unsupported branches stay eager.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from engine.model.blocks import LOW_PRECISION, autocast_active
from engine.model.eager import eager_only
from engine.model.fused_backward import BranchCompiler
from engine.model.precision import add_keeping_dtype, sub_keeping_dtype

MODES = ("reversible", "plain", "checkpoint")


@dataclass(frozen=True)
class RngState:
    """CPU and (for CUDA inputs) device RNG states captured before a stochastic branch ran."""

    cpu: torch.Tensor
    device: torch.device
    device_state: torch.Tensor | None

    @classmethod
    def capture(cls, device: torch.device) -> RngState:
        device_state = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        return cls(torch.get_rng_state(), device, device_state)

    @contextlib.contextmanager
    def replayed(self) -> Iterator[None]:
        """Run the body with the captured states; the caller's RNG states are restored afterwards."""
        devices = [self.device] if self.device_state is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.device_state is not None:
                torch.cuda.set_rng_state(self.device_state, self.device)
            yield


@dataclass(frozen=True)
class AutocastState:
    """The autocast settings of one device type, as the forward pass saw them."""

    device_type: str
    enabled: bool
    dtype: torch.dtype
    cache_enabled: bool

    @classmethod
    def capture(cls, device_type: str) -> AutocastState:
        enabled = autocast_active(device_type)
        try:
            dtype = torch.get_autocast_dtype(device_type)
        except (AttributeError, RuntimeError):  # torch < 2.4
            dtype = torch.get_autocast_gpu_dtype() if device_type == "cuda" else torch.get_autocast_cpu_dtype()
        return cls(device_type, enabled, dtype, torch.is_autocast_cache_enabled())

    def context(self) -> contextlib.AbstractContextManager:
        try:
            if not self.enabled:
                return torch.autocast(self.device_type, enabled=False)
            return torch.autocast(self.device_type, dtype=self.dtype, enabled=True, cache_enabled=self.cache_enabled)
        except RuntimeError:  # a device type without autocast (e.g. "meta")
            return contextlib.nullcontext()


def _has_randomness(module: nn.Module) -> bool:
    return bool(getattr(module, "has_randomness", True))


def _trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


@dataclass(frozen=True)
class BranchState:
    """What the backward of one F / G branch needs to know, gathered once per forward (one module walk)."""

    params: list[nn.Parameter]
    buffers: list[torch.Tensor]

    @classmethod
    def of(cls, module: nn.Module) -> BranchState:
        params: list[nn.Parameter] = []
        buffers: list[torch.Tensor] = []
        for sub in module.modules():
            params += [p for p in sub._parameters.values() if p is not None and p.requires_grad]
            buffers += [b for b in sub._buffers.values() if b is not None]
        return cls(params, buffers)


@contextlib.contextmanager
def _buffers_kept(buffers: list[torch.Tensor]) -> Iterator[None]:
    """Undo buffer updates (batch-norm running stats) made by a recompute: the forward already made them."""
    saved = [b.clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(buffers, saved, strict=True):
                buffer.copy_(value)


class ReversibleCoupling(nn.Module):
    """RevNet additive coupling of two channel-preserving branches F and G on C/2 channels each.

    Args:
        f: branch applied to x2 and added to x1.
        g: branch applied to y1 and added to x2.
    """

    def __init__(self, f: nn.Module, g: nn.Module) -> None:
        super().__init__()
        self.f = f
        self.g = g

    def forward_halves(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y1 = add_keeping_dtype(x1, self.f(x2))
        return y1, add_keeping_dtype(x2, self.g(y1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.forward_halves(*x.chunk(2, dim=1)), dim=1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Reconstruct the input from the output (no gradients; branches must be in the same mode)."""
        y1, y2 = y.chunk(2, dim=1)
        with torch.no_grad():
            x2 = sub_keeping_dtype(y2, self.g(y1))
            x1 = sub_keeping_dtype(y1, self.f(x2))
        return torch.cat([x1, x2], dim=1)

    def _call(self, branch: nn.Module, x: torch.Tensor, rng: RngState | None) -> torch.Tensor:
        if rng is None:
            return branch(x)
        with rng.replayed():
            return branch(x)

    def forward_recording(
        self, x1: torch.Tensor, x2: torch.Tensor, record_rng: bool, compiler: BranchCompiler | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[RngState | None, RngState | None]]:
        """Forward (no grad) that also captures the RNG state before each stochastic branch.

        With a `compiler`, branches it supports run as compiled graphs (the coupling addition fused in).
        """
        rng_f = RngState.capture(x2.device) if record_rng and _has_randomness(self.f) else None
        y1 = _compiled_add(compiler, self.f, x1, x2)
        if y1 is None:
            y1 = add_keeping_dtype(x1, self.f(x2))
        rng_g = RngState.capture(y1.device) if record_rng and _has_randomness(self.g) else None
        y2 = _compiled_add(compiler, self.g, x2, y1)
        if y2 is None:
            y2 = add_keeping_dtype(x2, self.g(y1))
        return y1, y2, (rng_f, rng_g)

    def _branch_backward(
        self, branch: nn.Module, x: torch.Tensor, grad: torch.Tensor, rng: RngState | None, state: BranchState
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor | None, ...]]:
        """Recompute branch(x) once under grad and back-propagate `grad` through it.

        Returns the branch output (detached), the gradient w.r.t. x and the parameter gradients.
        """
        keep = _buffers_kept(state.buffers) if state.buffers else contextlib.nullcontext()
        with torch.enable_grad(), keep:
            x = x.detach().requires_grad_(True)
            out = self._call(branch, x, rng)
            if grad.dtype != out.dtype:
                grad = grad.to(out.dtype)
            grads = torch.autograd.grad(out, (x, *state.params), grad, allow_unused=True)
        grad_x = grads[0] if grads[0] is not None else torch.zeros_like(x)
        return out.detach(), grad_x, grads[1:]

    def backward_step(
        self,
        y1: torch.Tensor,
        y2: torch.Tensor,
        dy1: torch.Tensor,
        dy2: torch.Tensor,
        rng: tuple[RngState | None, RngState | None],
        states: tuple[BranchState, BranchState],
        param_grads: dict[int, torch.Tensor],
        compiler: BranchCompiler | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Invert this coupling and back-propagate through it; parameter gradients go into `param_grads`.

        Args:
            y1, y2: the coupling's output halves.
            dy1, dy2: gradients w.r.t. y1 and y2.
            rng: the RNG states recorded for F and G by `forward_recording`.
            states: the `BranchState` of F and G.
            param_grads: id(parameter) -> gradient, accumulated in place.
            compiler: when given, each branch it supports runs its recompute, backward, inversion and
                gradient sum as one compiled graph (`engine.model.fused_backward`).
        Returns:
            x1, x2, dx1, dx2: the reconstructed input halves and the gradients w.r.t. them.
        """
        if compiler is not None:
            fused = self._compiled_backward_step(y1, y2, dy1, dy2, rng, param_grads, compiler)
            if fused is not None:
                return fused
        (rng_f, rng_g), (state_f, state_g) = rng, states
        g_out, g_grad_y1, g_param_grads = self._branch_backward(self.g, y1, dy2, rng_g, state_g)
        x2 = sub_keeping_dtype(y2, g_out)
        del g_out, y2
        dx1 = add_keeping_dtype(dy1, g_grad_y1)
        del g_grad_y1, dy1
        f_out, f_grad_x2, f_param_grads = self._branch_backward(self.f, x2, dx1, rng_f, state_f)
        x1 = sub_keeping_dtype(y1, f_out)
        del f_out, y1
        dx2 = add_keeping_dtype(dy2, f_grad_x2)
        _accumulate(param_grads, state_g.params, g_param_grads)
        _accumulate(param_grads, state_f.params, f_param_grads)
        return x1, x2, dx1, dx2

    def _compiled_backward_step(
        self, y1: torch.Tensor, y2: torch.Tensor, dy1: torch.Tensor, dy2: torch.Tensor,
        rng: tuple[RngState | None, RngState | None], param_grads: dict[int, torch.Tensor], compiler: BranchCompiler,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """`backward_step` through compiled graphs; None (nothing done) when a branch needs the eager path."""
        if any(r is not None for r in rng) or not (compiler.supports(self.f) and compiler.supports(self.g)):
            return None
        g_step = compiler.backward(self.g, y2, y1, dy2, dy1)  # -> x2, dx1
        if g_step is None:
            return None
        x2, dx1, g_grads = g_step
        f_step = compiler.backward(self.f, y1, x2, dx1, dy2)  # -> x1, dx2
        if f_step is None:  # G's work is done: finish F eagerly
            state_f = BranchState.of(self.f)
            f_out, f_grad_x2, f_grads = self._branch_backward(self.f, x2, dx1, None, state_f)
            x1, dx2 = sub_keeping_dtype(y1, f_out), add_keeping_dtype(dy2, f_grad_x2)
            _accumulate(param_grads, state_f.params, f_grads)
        else:
            x1, dx2, f_grads = f_step
            _accumulate(param_grads, _trainable_named(self.f), f_grads)
        _accumulate(param_grads, _trainable_named(self.g), g_grads)
        return x1, x2, dx1, dx2


def _trainable_named(module: nn.Module) -> list[nn.Parameter]:
    """Trainable parameters in named_parameters order (the order compiled graphs return gradients in)."""
    return [p for _, p in module.named_parameters() if p.requires_grad]


def _compiled_add(compiler: BranchCompiler | None, branch: nn.Module, base: torch.Tensor,
                  x: torch.Tensor) -> torch.Tensor | None:
    if compiler is None or not compiler.supports(branch):
        return None
    return compiler.forward(branch, base, x)


def _accumulate(
    into: dict[int, torch.Tensor], params: list[nn.Parameter], grads: tuple[torch.Tensor | None, ...]
) -> None:
    for param, grad in zip(params, grads, strict=True):
        if grad is None:
            continue
        key = id(param)
        into[key] = grad if key not in into else into[key] + grad


class _ReversibleFunction(torch.autograd.Function):
    """Runs a `ReversibleSequence`, storing only its output; backward reconstructs inputs block by block."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sequence: ReversibleSequence, *params: nn.Parameter) -> torch.Tensor:
        record_rng = sequence.training
        x1, x2 = x.chunk(2, dim=1)
        records = []
        for block in sequence.blocks:
            x1, x2, rng = block.forward_recording(x1, x2, record_rng, sequence.compiler)
            records.append(rng)
        y = torch.cat([x1, x2], dim=1)
        del x1, x2
        # The output is saved once (save_for_backward keeps a reference, not a copy); the next layer that
        # saves it for its own backward shares the same storage.
        ctx.save_for_backward(y)
        ctx.sequence = sequence
        ctx.records = records
        ctx.states = [(BranchState.of(block.f), BranchState.of(block.g)) for block in sequence.blocks]
        ctx.params = params
        ctx.autocast = AutocastState.capture(x.device.type)
        return y

    @staticmethod
    def backward(ctx, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (y,) = ctx.saved_tensors
        y1, y2 = y.detach().chunk(2, dim=1)
        del y
        dy1, dy2 = dy.chunk(2, dim=1)
        del dy
        param_grads: dict[int, torch.Tensor] = {}
        compiler = ctx.sequence.compiler
        with ctx.autocast.context():
            steps = zip(reversed(ctx.sequence.blocks), reversed(ctx.records), reversed(ctx.states), strict=True)
            for block, rng, states in steps:
                y1, y2, dy1, dy2 = block.backward_step(y1, y2, dy1, dy2, rng, states, param_grads, compiler)
        dx = torch.cat([dy1, dy2], dim=1)
        grads = tuple(param_grads.get(id(p)) for p in ctx.params)
        ctx.records = ctx.states = ctx.sequence = None
        return (dx, None, *grads)


class ReversibleSequence(nn.Module):
    """A chain of `ReversibleCoupling` blocks of equal width, run reversibly, plainly or checkpointed.

    Args:
        blocks: the couplings, applied in order.
        mode: "reversible" (default), "plain" or "checkpoint" (see the module docstring).
        float32_stream: promote a bf16 / fp16 input to float32, so the coupling additions (and the
            reconstruction in backward) happen in float32 while F and G still run under autocast.
    """

    def __init__(self, blocks: list[ReversibleCoupling], mode: str = "reversible", float32_stream: bool = False) -> None:
        super().__init__()
        if not blocks:
            raise ValueError("a ReversibleSequence needs at least one block")
        self.blocks = nn.ModuleList(blocks)
        self.mode = mode
        self.float32_stream = float32_stream
        #: compiled forward / fused backward graphs for the reversible mode (`RevSegUNet.compile_reversible`)
        self.compiler: BranchCompiler | None = None

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown execution mode {value!r}; use one of {list(MODES)}")
        self._mode = value

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, float32_stream={self.float32_stream}"

    def _plain(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        for block in self.blocks:
            x1, x2 = block.forward_halves(x1, x2)
        return torch.cat([x1, x2], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1] % 2:
            raise ValueError(f"a reversible sequence needs an even channel count, got input shape {tuple(x.shape)}")
        if self.float32_stream and x.dtype in LOW_PRECISION:
            x = x.float()
        if not torch.is_grad_enabled():
            return self._plain(x)
        if self.mode == "reversible":
            params = _trainable(self)
            if not params and not x.requires_grad:
                return self._plain(x)
            return _apply_reversible(x, self, params)
        if self.mode == "checkpoint":
            return checkpoint(self._plain, x, use_reentrant=False)
        return self._plain(x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Reconstruct the sequence input from its output (no gradients)."""
        for block in reversed(self.blocks):
            y = block.inverse(y)
        return y


@eager_only
def _apply_reversible(x: torch.Tensor, sequence: ReversibleSequence, params: list[nn.Parameter]) -> torch.Tensor:
    # Kept out of whole-model torch.compile graphs: the backward calls torch.autograd.grad, which Dynamo
    # cannot trace. Blocks compiled on their own (`RevSegUNet.compile_blocks`) still run compiled in here.
    return _ReversibleFunction.apply(x, sequence, *params)
