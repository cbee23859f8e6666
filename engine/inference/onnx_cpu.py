"""The network's forward on the CPU through ONNX Runtime: on this 2-core machine a 128^3 tile takes 1.09 s
against 1.88 s for the eager channels-last forward, logits within 1.5e-3 (``scripts/measure_cpu_exported.py``,
docs/benchmarks.md, issue 19).

The network is exported once per weights and tile shape (``torch.onnx.export``, about 11 s for the bundled
model) into a cache folder named by a fingerprint of its weights, configuration and the library versions, so
later runs (and other processes) load it in milliseconds. A session lives for one prediction: its memory arena
(about 0.5 GB at 128^3) is returned when the prediction ends. When ONNX Runtime is missing, or the export or
the session fails, the eager network runs instead (logged once per network).

Tiles run ``tile_workers()`` at a time, each on its own share of the cores, rather than one at a time on all of
them: ONNX Runtime's intra-op threads scale poorly on this network's many small operators (two 128^3 tiles took
6.2-6.6 s one after another on 2 threads against 4.7-5.0 s side by side on 1 thread each, identical logits;
docs/benchmarks.md, issue 19). The predictor's CPU batch is that many tiles.

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
from concurrent.futures import ThreadPoolExecutor
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
# Tiles run side by side on the CPU, at most: measured on 2 cores (module docstring); more would multiply the
# activation memory for gains not measured.
MAX_TILE_WORKERS = 2
# Peak memory of one more tile run side by side, per tile voxel: a pair of 128^3 tiles raised the peak by 1347 MiB
# against 524 MiB for one at a time (about 400 bytes a voxel for the second). A tile runs side by side only when
# the machine has that much memory available.
SIDE_BY_SIDE_BYTES_PER_TILE_VOXEL = 400


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


def tile_workers(threads: int | None = None, tile_voxels: int | None = None) -> int:
    """Tiles run side by side by ONNX Runtime on ``threads`` cores (default: torch's threads), at most
    ``MAX_TILE_WORKERS``, and with ``tile_voxels`` given, only as many as the available memory holds; each gets
    ``threads // workers`` intra-op threads."""
    workers = max(1, min(MAX_TILE_WORKERS, threads or torch.get_num_threads()))
    available = available_memory_bytes()
    if tile_voxels and available is not None:
        extra = int(available // (tile_voxels * SIDE_BY_SIDE_BYTES_PER_TILE_VOXEL))
        workers = max(1, min(workers, 1 + extra))
    return workers


def available_memory_bytes() -> int | None:
    """The memory the system can give without swapping (Linux's MemAvailable); None where it is not known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


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

    A batch of several tiles runs up to ``workers`` tiles side by side, each on ``threads // workers`` intra-op
    threads (one session shared by the threads: ONNX Runtime's ``run`` is thread-safe and releases the GIL); a
    single tile runs on all ``threads``. The graph is exported for one tile, whatever the batch.

    Args:
        network: the model in eval mode (its weights are read when a tile shape is first seen).
        threads: cores for the sessions (default: torch's threads).
        workers: tiles run side by side (default: ``tile_workers(threads)``).
    """

    def __init__(self, network: nn.Module, threads: int | None = None, workers: int | None = None) -> None:
        self.network = network
        self.threads = threads or torch.get_num_threads()
        self.workers = max(1, min(workers or tile_workers(self.threads), self.threads))
        self._fingerprint: str | None = None
        self._sessions: dict[tuple[tuple[int, ...], int], object] = {}
        self.failed: str | None = None

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if self.failed is None:
            try:
                return torch.from_numpy(self._run_tiles(batch.contiguous().numpy()))
            except Exception as error:  # noqa: BLE001 - any failure falls back to the eager forward
                self._fail(error)
        return self.network(batch)

    def prepare(self, shape: tuple[int, ...], progress: ProgressCallback | None = None) -> None:
        """Export or load the session for batches of ``shape`` before the first tile, reporting the stage
        ``ENGINE_STAGE`` (0 of 1, then 1 of 1) when an export runs, so a first run says what it waits for."""
        if self.failed is None:
            try:
                self._session((1, *shape[1:]), self._threads_per_tile(shape[0]), progress)
            except Exception as error:  # noqa: BLE001 - any failure falls back to the eager forward
                self._fail(error)

    def _run_tiles(self, batch: np.ndarray) -> np.ndarray:
        """Logits of every tile of ``batch``, up to ``workers`` tiles at a time."""
        tiles = [batch[i:i + 1] for i in range(batch.shape[0])]
        session = self._session(tiles[0].shape, self._threads_per_tile(len(tiles)))

        def run(tile: np.ndarray) -> np.ndarray:
            return session.run(["logits"], {"image": tile})[0]

        if len(tiles) == 1 or self.workers == 1:
            logits = [run(tile) for tile in tiles]
        else:
            with ThreadPoolExecutor(min(self.workers, len(tiles)), thread_name_prefix="revseg-onnx") as pool:
                logits = list(pool.map(run, tiles))
        return np.ascontiguousarray(np.concatenate(logits))

    def _threads_per_tile(self, tiles: int) -> int:
        """All threads for a lone tile, else each side-by-side tile's share."""
        return self.threads if tiles == 1 or self.workers == 1 else max(1, self.threads // self.workers)

    def _fail(self, error: Exception) -> None:
        self.failed = f"{type(error).__name__}: {error}"
        log.warning("ONNX Runtime unavailable for this network (%s); using the eager forward", self.failed)

    def _session(self, shape: tuple[int, ...], threads: int, progress: ProgressCallback | None = None) -> object:
        if (shape, threads) not in self._sessions:
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
            self._sessions[(shape, threads)] = ort.InferenceSession(str(path), session_options(threads),
                                                                    providers=["CPUExecutionProvider"])
        return self._sessions[(shape, threads)]
