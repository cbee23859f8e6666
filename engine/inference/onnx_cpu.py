"""The network's forward on the CPU through ONNX Runtime: on this 2-core machine a 128^3 tile takes 1.09 s
against 1.88 s for the eager channels-last forward, logits within 1.5e-3 (``scripts/measure_cpu_exported.py``,
docs/benchmarks.md, issue 19).

The network is exported once per weights and tile shape (``torch.onnx.export``, about 11 s for the bundled
model) into a cache folder named by a fingerprint of its weights, configuration and the library versions, so
later runs (and other processes) load it in milliseconds. A session lives for one prediction: its memory arena
(about 0.5 GB at 128^3) is returned when the prediction ends. When ONNX Runtime is missing, or the export or
the session fails, the eager network runs instead (logged once per network).

The cache keeps the ``KEEP_EXPORTS`` most recently used exports.
``REVSEG_CPU_BACKEND`` = ``onnxruntime`` or ``eager`` overrides the predictor's ``cpu_backend="auto"``;
``REVSEG_CACHE`` moves the cache (default ``$XDG_CACHE_HOME/revseg``, else ``~/.cache/revseg``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.errors import ProgressCallback, report

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnxruntime", "eager")
BACKEND_ENV = "REVSEG_CPU_BACKEND"
CACHE_ENV = "REVSEG_CACHE"
OPSET = 18
ENGINE_STAGE = "cpu engine"  # progress stage of the one-off export
KEEP_EXPORTS = 8  # exports kept in the cache, the most recently used


def onnxruntime_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx", "onnxscript"))


def resolve_cpu_backend(requested: str = "auto") -> str:
    """"onnxruntime" or "eager": the environment's choice for "auto", ONNX Runtime when installed."""
    choice = requested
    if requested == "auto":
        choice = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
    if choice not in BACKENDS:
        raise ValueError(f"CPU backend must be one of {', '.join(BACKENDS)}, got {choice!r} (from {BACKEND_ENV}?)")
    if choice == "auto":
        return "onnxruntime" if onnxruntime_available() else "eager"
    return choice


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "revseg"


def network_fingerprint(network: nn.Module) -> str:
    """SHA-256 over the weights, the configuration and the versions that shape the exported graph."""
    import onnxruntime

    digest = hashlib.sha256()
    for versioned in (torch.__version__, onnxruntime.__version__, str(OPSET), repr(getattr(network, "config", ""))):
        digest.update(versioned.encode())
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def prune_cache(folder: Path, keep: int | None = None) -> list[Path]:
    """Remove all but the ``keep`` most recently used exports in ``folder`` (about 45 MB each for the default
    network: a researcher trying many checkpoints would otherwise fill the disk; default ``KEEP_EXPORTS``).
    Returns what was removed."""
    keep = KEEP_EXPORTS if keep is None else keep
    exports = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in exports[keep:]:
        shutil.rmtree(old, ignore_errors=True)
        log.info("removed the least recently used ONNX export %s", old.name)
    return exports[keep:]


def export_network(network: nn.Module, shape: tuple[int, ...], target: Path) -> Path:
    """``network`` (in eval mode) as ``target/model.onnx`` (+ its weights file) for inputs of ``shape``.

    Written into a temporary folder that is renamed into place, so a killed export leaves no half model.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        example = torch.zeros(shape, dtype=torch.float32)
        # The exporter prints its steps, its graph passes log every rewrite: kept out of the CLI's output.
        with (torch.inference_mode(False), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()),
              _quiet_loggers("onnx_ir", "onnxscript", "torch.onnx", "torch.onnx._internal.exporter._registration"),
              warnings.catch_warnings()):
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(network, (example,), str(staging / "model.onnx"), input_names=["image"],
                              output_names=["logits"], opset_version=OPSET, dynamo=True, verbose=False)
        try:
            staging.rename(target)
        except OSError:  # another process exported the same model meanwhile: use theirs
            if not (target / "model.onnx").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "model.onnx"


def session_options(threads: int) -> object:
    """All graph optimisations, ``threads`` intra-op threads, the memory arena on and memory patterns off: on a
    128^3 tile as fast as the defaults (1.10 against 1.20 s) with half the peak (+524 against +1027 MiB); without
    the arena 1.37-1.52 s (docs/benchmarks.md, issue 19)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = False
    return options


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class OnnxForward:
    """A callable with the network's CPU forward, run by ONNX Runtime; one per network and prediction.

    Args:
        network: the model in eval mode (its weights are read when a tile shape is first seen).
        threads: intra-op threads of the sessions (default: torch's).
    """

    def __init__(self, network: nn.Module, threads: int | None = None) -> None:
        self.network = network
        self.threads = threads or torch.get_num_threads()
        self._fingerprint: str | None = None
        self._sessions: dict[tuple[int, ...], object] = {}
        self.failed: str | None = None

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if self.failed is None:
            try:
                session = self._session(tuple(batch.shape))
                logits = session.run(["logits"], {"image": batch.contiguous().numpy()})[0]
                return torch.from_numpy(np.ascontiguousarray(logits))
            except Exception as error:  # noqa: BLE001 - any failure falls back to the eager forward
                self._fail(error)
        return self.network(batch)

    def prepare(self, shape: tuple[int, ...], progress: ProgressCallback | None = None) -> None:
        """Export or load the session for batches of ``shape`` before the first tile, reporting the stage
        ``ENGINE_STAGE`` (0 of 1, then 1 of 1) when an export runs, so a first run says what it waits for."""
        if self.failed is None:
            try:
                self._session(shape, progress)
            except Exception as error:  # noqa: BLE001 - any failure falls back to the eager forward
                self._fail(error)

    def _fail(self, error: Exception) -> None:
        self.failed = f"{type(error).__name__}: {error}"
        log.warning("ONNX Runtime unavailable for this network (%s); using the eager forward", self.failed)

    def _session(self, shape: tuple[int, ...], progress: ProgressCallback | None = None) -> object:
        if shape not in self._sessions:
            import onnxruntime as ort

            self._fingerprint = self._fingerprint or network_fingerprint(self.network)
            folder = cache_root() / "onnx" / f"{self._fingerprint[:32]}-{'x'.join(map(str, shape))}"
            path = folder / "model.onnx"
            if not path.exists():
                log.info("exporting the network to ONNX for tiles %s (once per weights; cached in %s)", shape, folder)
                report(progress, ENGINE_STAGE, 0, 1)
                export_network(self.network, shape, folder)
                report(progress, ENGINE_STAGE, 1, 1)
                prune_cache(folder.parent)
            else:
                os.utime(folder)  # recently used: kept by prune_cache
            self._sessions[shape] = ort.InferenceSession(str(path), session_options(self.threads),
                                                         providers=["CPUExecutionProvider"])
        return self._sessions[shape]
