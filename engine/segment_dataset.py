"""Batch mode: every case folder of a dataset into ``<out>/<case>.nii.gz``, skipping finished cases, spread over
the processes torchrun launches (case i goes to rank i % WORLD_SIZE, on cuda:LOCAL_RANK). One bad case is logged
and listed, and does not stop the batch.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import CancelCheck, ProgressCallback, check_cancel, report
from engine.inference.postprocess import PostprocessConfig
from engine.inference.predictor import PredictorConfig
from engine.segment import Segmenter, load_segmenter, segment_case

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetResult:
    """What ``segment_dataset`` did on this rank: written, skipped (already done) and failed cases."""

    written: list[Path]
    skipped: list[Path]
    failed: dict[str, str]


def distributed_rank() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment variables (0, 1, 0 without them)."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))


def dataset_cases(dataset_dir: Path) -> list[Path]:
    """Case folders of a dataset (visible sub-folders, sorted by name).

    Raises:
        ValueError: the folder does not exist or holds no case folder.
    """
    if not dataset_dir.is_dir():
        raise ValueError(f"dataset folder {dataset_dir} does not exist")
    cases = sorted(p for p in dataset_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not cases:
        raise ValueError(f"{dataset_dir} holds no case folders (expected one sub-folder per case)")
    return cases


def segment_dataset(
    dataset_dir: str | Path,
    out_dir: str | Path,
    *,
    weights: str | Path | None = None,
    device: str = "auto",
    tta: bool = False,
    tile: int | None = None,
    overlap: float = 0.5,
    rank: int | None = None,
    world_size: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    compile: bool = False,
    postprocess_config: PostprocessConfig | None = None,
    cpu_backend: str = "auto",
    check_content: bool = True,
) -> DatasetResult:
    """Segment every case folder of a dataset into ``<out_dir>/<case>.nii.gz`` (resumable).

    Args:
        dataset_dir: folder of case folders.
        out_dir: output folder (created).
        weights, device, tta, tile, overlap, compile, postprocess_config, cpu_backend, check_content: as in
            ``segment_case``; a case that fails the content check is reported failed and the batch goes on.
        rank, world_size: this process's share (case i goes to rank i % world_size); default from torchrun's
            RANK / WORLD_SIZE; with several ranks and device "auto"/"cuda", each uses cuda:LOCAL_RANK.
        progress: ``progress("case", done, total)`` per case of this rank.
        cancel: polled between cases and inside each.
    """
    env_rank, env_world, local_rank = distributed_rank()
    rank, world_size = env_rank if rank is None else rank, env_world if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    if world_size > 1 and device in ("auto", "cuda") and torch.cuda.is_available():
        device = f"cuda:{local_rank}"
    out_dir = Path(out_dir)
    mine = [case for index, case in enumerate(dataset_cases(Path(dataset_dir))) if index % world_size == rank]
    written, skipped, failed = [], [], {}
    segmenter: Segmenter | None = None
    for done, case in enumerate(mine):
        check_cancel(cancel, "batch")
        report(progress, "case", done, len(mine))
        target = out_dir / f"{case.name}.nii.gz"
        if target.exists():
            skipped.append(target)
            continue
        segmenter = segmenter or load_segmenter(weights, PredictorConfig(tile=tile, overlap=overlap, device=device,
                                                                         tta=tta, compile=compile,
                                                                         cpu_backend=cpu_backend),
                                              postprocess_config)
        try:
            segment_case(case, None, target, cancel=cancel, segmenter=segmenter, check_content=check_content)
            written.append(target)
        except ValueError as error:  # a bad case must not stop the batch
            log.error("case %s failed: %s", case.name, error)
            failed[case.name] = str(error)
    report(progress, "case", len(mine), len(mine))
    return DatasetResult(written, skipped, failed)
