"""Resume state and validation helpers of the training loop.

The resume state (``trainer_state.pt``) is our own file, written by `torch.save`; it holds only tensors,
numbers, strings, lists and dicts, so it loads with ``torch.load(weights_only=True)`` (no unpickling of
arbitrary objects). It carries the exact fp32 weights, optimiser state, EMA, step, best metric, history and
the torch RNG states; the learning-rate schedule and the patch stream are pure functions of the step, so the
step is their whole state. Distributable weights go through `engine.checkpoint` (safetensors) instead.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.inference import Predictor, PredictorConfig, labels_from_regions
from engine.metrics import REGION_NAMES, region_scores
from trainer.data import CachedCase

log = logging.getLogger(__name__)

STATE_NAME = "trainer_state.pt"
STATE_VERSION = 1
VALIDATION_METHOD = "engine.inference.Predictor (sliding window, Gaussian-weighted merge), nested-region labels"


def rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write the resume state atomically (temporary file + rename), so a kill mid-write keeps the old one."""
    temp = path.with_name(f".{path.name}.tmp")
    torch.save({"version": STATE_VERSION, **state}, temp)
    os.replace(temp, path)


def load_state(path: Path) -> dict[str, Any]:
    """Read a resume state; weights_only=True: the file holds plain containers and tensors only."""
    if not path.is_file():
        raise ValueError(f"--resume: no {path.name} in {path.parent}; start without --resume")
    if path.stat().st_size == 0:
        raise ValueError(f"--resume: {path} is empty (0 bytes; the run was killed while writing it?); start "
                         "without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # Never suggest weights_only=False: that would run whatever code the file carries.
        raise ValueError(f"--resume: {path} holds Python objects other than a RevSeg trainer state, which RevSeg "
                         "refuses to load; use the trainer_state.pt a RevSeg run wrote, or start without --resume"
                         ) from None
    except (RuntimeError, EOFError, OSError, MemoryError, ValueError, KeyError) as error:
        log.debug("loading %s failed: %r", path, error)
        raise ValueError(f"--resume: {path} is truncated or corrupt ({path.stat().st_size} bytes); start without "
                         "--resume or restore the file from a backup") from None
    if not isinstance(state, dict):
        raise ValueError(f"--resume: {path} is not a RevSeg trainer state; start without --resume")
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{path} has state version {state.get('version')}, this trainer writes {STATE_VERSION}")
    return state


def validate_cases(model: nn.Module, cases: list[CachedCase], device: torch.device, *, tile: int,
                   overlap: float, amp: bool) -> dict[str, float]:
    """Sums of Dice / HD95 per region over ``cases`` plus their count (the caller averages across ranks).

    Uses the engine's sliding-window predictor, so validation sees exactly what the app computes.
    """
    # No CUDA graphs: their memory pool would stay beside the training step's, for a handful of forwards.
    predictor = Predictor(model, PredictorConfig(tile=tile, overlap=overlap, batch_size=1, device=str(device),
                                                 cpu_backend="eager",  # the weights change between validations
                                                 amp=amp, cuda_graphs=False))
    sums = {f"{kind}_{region}": 0.0 for kind in ("dice", "hd95") for region in REGION_NAMES}
    for case in cases:
        image, label = case.load(mmap=False)
        with torch.no_grad():
            logits = predictor.predict(image.astype(np.float32))
        predicted = labels_from_regions(torch.sigmoid(logits).numpy())
        for region, score in region_scores(predicted, label, case.spacing).items():
            sums[f"dice_{region}"] += score.dice
            sums[f"hd95_{region}"] += score.hd95
    sums["count"] = float(len(cases))
    return sums


def means_from_sums(sums: dict[str, float]) -> dict[str, float]:
    count = max(sums.get("count", 0.0), 1e-9)
    means = {k: v / count for k, v in sums.items() if k != "count"}
    means["dice_mean"] = float(np.mean([means[f"dice_{r}"] for r in REGION_NAMES]))
    return means


def hardware_summary(device: torch.device, world_size: int) -> dict[str, Any]:
    info: dict[str, Any] = {"device": str(device), "processes": world_size, "torch": torch.__version__,
                            "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
