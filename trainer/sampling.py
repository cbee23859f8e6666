"""Patch sampling: a map-style dataset whose item ``g`` is a pure function of (seed, g), and a resumable
sharded batch sampler.

Why: exact resume and DDP both follow from it. Training step ``s`` consumes the global indices
``s * B * W ... (s + 1) * B * W - 1`` (B patches per process, W processes); rank ``r`` takes the slice
``r * B ... r * B + B - 1`` of them (the DistributedSampler idea applied to an endless patch stream). So a
resumed run only needs the step number, and W GPUs with batch B see exactly the patches one GPU sees with
batch W * B. Worker processes and their number do not change which patch an index gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from trainer.augment import AugmentConfig, augment
from trainer.config import TrainConfig
from trainer.data import CachedCase

_MAX_FOREGROUND_POINTS = 20000


def training_dataset(config: TrainConfig, cases: Sequence[CachedCase], patch_size: Sequence[int]) -> PatchDataset:
    """The patch stream a run with `config` trains on: its augmentation (scaled for real cases) and sampling."""
    augmentation = AugmentConfig(config.p_rotate_scale, config.rotation_deg, config.scale_range, config.p_intensity,
                                 config.p_gamma, config.p_noise, config.p_blur, config.p_lowres,
                                 config.p_bias) if config.augment else None
    real = augmentation.scaled(config.real_augment_scale) if augmentation is not None else None
    return PatchDataset(cases, patch_size, config.foreground_fraction, config.seed, augmentation,
                        real_fraction=config.real_fraction, real_augmentation=real)


class PatchDataset(Dataset):
    """Random training patches from cached cases, with foreground oversampling and augmentation.

    Args:
        cases: cached cases to sample from (uniformly).
        patch_size: patch edges; each is clipped to the volume (so a huge value means "whole volume").
        foreground_fraction: share of patches centred on a random tumour voxel.
        seed: run seed.
        augmentation: None disables augmentation.
        real_fraction: share of patches from real (non-phantom) cases when both kinds are present; 0 draws
            every case equally often.
        real_augmentation: augmentation of real cases' patches (default: ``augmentation``).
    """

    def __init__(self, cases: Sequence[CachedCase], patch_size: Sequence[int], foreground_fraction: float,
                 seed: int, augmentation: AugmentConfig | None, *, real_fraction: float = 0.0,
                 real_augmentation: AugmentConfig | None = None) -> None:
        if not cases:
            raise ValueError("no training cases: the split's train list is empty")
        self.cases = list(cases)
        self.real = [i for i, case in enumerate(self.cases) if not case.phantom]
        self.synthetic = [i for i, case in enumerate(self.cases) if case.phantom]
        mixed = bool(self.real) and bool(self.synthetic)
        self.real_fraction = real_fraction if mixed else 0.0
        self.real_augmentation = real_augmentation if real_augmentation is not None else augmentation
        self.patch_size = tuple(int(p) for p in patch_size)
        self.foreground_fraction = foreground_fraction
        self.seed = seed
        self.augmentation = augmentation
        self._foreground: dict[int, np.ndarray] = {}  # per worker: tumour voxel coordinates by case

    def __len__(self) -> int:  # the stream is endless; the sampler decides how much of it an epoch reads
        return 2**62

    def _draw_case(self, rng: np.random.Generator) -> int:
        if self.real_fraction <= 0:
            return int(rng.integers(len(self.cases)))
        group = self.real if rng.random() < self.real_fraction else self.synthetic
        return group[int(rng.integers(len(group)))]

    def _foreground_points(self, case_index: int, label: np.ndarray) -> np.ndarray:
        if case_index not in self._foreground:
            points = np.argwhere(np.asarray(label) > 0)
            if len(points) > _MAX_FOREGROUND_POINTS:  # an even thinning keeps every part of the tumour
                points = points[:: len(points) // _MAX_FOREGROUND_POINTS + 1]
            self._foreground[case_index] = points
        return self._foreground[case_index]

    def _patch_start(self, rng: np.random.Generator, shape: tuple[int, ...], size: tuple[int, ...],
                     centre: np.ndarray | None) -> list[int]:
        starts = []
        for axis in range(3):
            room = shape[axis] - size[axis]
            if centre is None:
                starts.append(int(rng.integers(0, room + 1)))
            else:
                starts.append(int(np.clip(centre[axis] - size[axis] // 2, 0, room)))
        return starts

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        case_index = self._draw_case(rng)
        image, label = self.cases[case_index].load(mmap=True)
        shape = label.shape
        size = tuple(min(p, s) for p, s in zip(self.patch_size, shape, strict=True))
        centre = None
        if rng.random() < self.foreground_fraction:
            points = self._foreground_points(case_index, label)
            centre = points[rng.integers(len(points))] if len(points) else None
        start = self._patch_start(rng, shape, size, centre)
        window = tuple(slice(b, b + n) for b, n in zip(start, size, strict=True))
        patch = np.asarray(image[(slice(None), *window)], dtype=np.float32)
        patch_label = np.array(label[window], dtype=np.uint8)
        augmentation = self.augmentation if self.cases[case_index].phantom else self.real_augmentation
        if augmentation is not None:
            patch, patch_label = augment(patch, patch_label, rng, augmentation)
        return torch.from_numpy(np.ascontiguousarray(patch)), torch.from_numpy(np.ascontiguousarray(patch_label))


class ResumableBatchSampler(Sampler[list[int]]):
    """Yields this rank's batches of global patch indices for steps ``start_step .. end_step - 1``.

    Args:
        start_step, end_step: global optimiser steps to cover.
        batch_size: patches per step on this rank.
        rank, world_size: this process and the number of processes.
    """

    def __init__(self, start_step: int, end_step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.start_step, self.end_step = int(start_step), int(end_step)
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step)

    def __iter__(self) -> Iterator[list[int]]:
        per_step = self.batch_size * self.world_size
        for step in range(self.start_step, self.end_step):
            first = step * per_step + self.rank * self.batch_size
            yield list(range(first, first + self.batch_size))


def pad_collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack patches, zero-padding any smaller one (a case smaller than the patch) to the largest shape."""
    target = [max(item[1].shape[axis] for item in batch) for axis in range(3)]
    images, labels = [], []
    for image, label in batch:
        pad = [p for axis in reversed(range(3)) for p in (0, target[axis] - label.shape[axis])]
        images.append(torch.nn.functional.pad(image, pad))
        labels.append(torch.nn.functional.pad(label, pad))
    return torch.stack(images), torch.stack(labels)
