"""Synthetic v2 data sets: written straight into the trainer's preprocessing cache (or as NIfTI case folders).

The cache layout is `trainer.data`'s (``CASE_image.npy`` float16 z-scored, ``CASE_label.npy`` uint8,
``index.json``), so ``main.py train --data SYNTH_CACHE --data REAL_CASES`` trains on both without decoding or
re-normalising anything. Generation is resumable (finished cases are skipped) and runs in worker processes of
one torch thread each; case ``i`` of a set is a pure function of (set seed, i).
"""

from __future__ import annotations

import functools
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.data import read_index, write_index
from trainer.synth.anatomy import anatomy_files, read_label_map
from trainer.synth.generator import GENERATOR, SynthConfig, generate_case

log = logging.getLogger(__name__)


def synth_case_id(seed: int, index: int) -> str:
    """Case id of case ``index`` of the set of ``seed``, e.g. ``SynthV2-0000-0012``."""
    return f"SynthV2-{seed:04d}-{index:04d}"


def synth_case_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index, 2]).generate_state(1)[0])


@functools.lru_cache(maxsize=4)
def _anatomy(path: str):  # noqa: ANN202 - cached per worker: a head is read once, not once per case
    return read_label_map(Path(path))


def _worker_device(device: str) -> str:
    # "cuda" spreads the worker processes over the GPUs; the heavy ops (resampling, blur, morphology) then run
    # there and the worker's CPU only draws the random numbers and writes the files.
    if device == "cuda" and torch.cuda.device_count() > 1:
        return f"cuda:{os.getpid() % torch.cuda.device_count()}"
    return device


def _generate_one(index: int, *, files: tuple[str, ...], seed: int, cache_dir: Path,
                  config: SynthConfig, device: str) -> dict[str, Any]:
    torch.set_num_threads(1)
    case_id = synth_case_id(seed, index)
    case_seed = synth_case_seed(seed, index)
    anatomy = _anatomy(files[case_seed % len(files)])
    case = generate_case(anatomy, case_seed, config, _worker_device(device))
    np.save(cache_dir / f"{case_id}_image.npy", case.image.astype(np.float16))
    np.save(cache_dir / f"{case_id}_label.npy", case.label)
    (cache_dir / f"{case_id}_synth.json").write_text(json.dumps(case.metadata, indent=1, default=float))
    return {"image": f"{case_id}_image.npy", "label": f"{case_id}_label.npy", "shape": list(case.label.shape),
            "spacing": [1.0, 1.0, 1.0], "source": f"{GENERATOR}:{anatomy.name}:{case_seed}", "phantom": True,
            "tumour_voxels": int((case.label > 0).sum()), "kind": case.metadata["kind"]}


def generate_synthetic_cache(anatomy_dir: str | Path, cache_dir: str | Path, n: int, seed: int = 0, *,
                             workers: int = 1, config: SynthConfig | None = None, device: str = "cpu",
                             progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """Generate ``n`` synthetic v2 cases of set ``seed`` into the trainer cache ``cache_dir``.

    Args:
        anatomy_dir: the SynthSeg label maps (or their packed copies).
        cache_dir: cache folder (created; cases already in its index are kept).
        n: number of cases.
        seed: the set's seed (held-out sets use another one).
        workers: processes generating side by side.
        config: variation ranges.
        device: "cpu" (bit-for-bit reproducible) or "cuda" (workers spread over the GPUs; faster).
        progress: called with (done, total) after each case.

    Returns:
        {"cases": generated now, "seconds": wall time, "cases_per_second": rate}.
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    files = tuple(str(p) for p in anatomy_files(anatomy_dir))
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    index = read_index(cache_dir)
    _refuse_other_generator(index, cache_dir)
    todo = [i for i in range(n) if synth_case_id(seed, i) not in index]
    job = functools.partial(_generate_one, files=files, seed=seed, cache_dir=cache_dir, config=config or SynthConfig(),
                            device=device)
    started = time.perf_counter()
    results = _run(job, todo, workers)
    for done, (i, entry) in enumerate(results, 1):
        index[synth_case_id(seed, i)] = entry
        write_index(cache_dir, index)  # after every case: an interrupted run keeps what it finished
        if progress is not None:
            progress(done, len(todo))
    seconds = time.perf_counter() - started
    rate = len(todo) / seconds if todo else 0.0
    log.info("generated %d synthetic v2 cases in %.1f s (%.2f cases/s, %d workers on %s)", len(todo), seconds, rate,
             workers, device)
    return {"cases": len(todo), "seconds": round(seconds, 2), "cases_per_second": round(rate, 3), "workers": workers,
            "device": device}


def _refuse_other_generator(index: dict[str, Any], cache_dir: Path) -> None:
    """A resumed cache must not mix cases of two generator versions (their statistics differ)."""
    for case_id, entry in index.items():
        source = str(entry.get("source", ""))
        if source.startswith("synthetic-v2") and not source.startswith(f"{GENERATOR}:"):
            raise ValueError(f"{cache_dir} holds cases of another generator version ({case_id}: "
                             f"{source.split(':')[0]}); this one is {GENERATOR}. Generate into a new folder.")


def _run(job: Callable[[int], dict[str, Any]], todo: list[int], workers: int):  # noqa: ANN202 - a generator
    if workers <= 1 or len(todo) <= 1:
        for i in todo:
            yield i, job(i)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=context) as pool:
        yield from zip(todo, pool.map(job, todo), strict=True)
