"""Fixtures of the trainer tests: tiny phantom cases (48^3 at 2 mm) written as BraTS folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from trainer.phantoms import PhantomConfig, generate_phantom

TINY_EDGE = 48
TINY_SEEDS = (11, 12)


def tiny_phantom_arrays(seed: int, edge: int = TINY_EDGE) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A phantom cropped to a (2 * edge)^3 box around its tumour, then downsampled 2x (2 mm voxels)."""
    phantom = generate_phantom(seed, PhantomConfig(p_low_grade=0.0))  # every tiny case has all three regions
    centre = np.round(np.argwhere(phantom.label > 0).mean(axis=0)).astype(int)
    box = []
    for axis, size in enumerate(phantom.label.shape):
        start = int(np.clip(centre[axis] - edge, 0, size - 2 * edge))
        box.append(slice(start, start + 2 * edge, 2))
    label = phantom.label[tuple(box)].astype(np.uint8)
    images = {name: np.ascontiguousarray(data[tuple(box)], dtype=np.float32) for name, data in phantom.images.items()}
    return images, label


def write_tiny_case(root: Path, case_id: str, images: dict[str, np.ndarray], label: np.ndarray) -> Path:
    folder = root / case_id
    folder.mkdir(parents=True)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    for name, data in images.items():
        nib.save(nib.Nifti1Image(data, affine), folder / f"{case_id}_{name}.nii.gz")
    nib.save(nib.Nifti1Image(label, affine), folder / f"{case_id}_seg.nii.gz")
    return folder


@pytest.fixture(scope="session")
def tiny_phantom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny phantom cases in BraTS 2020 layout (named Phantom-*, so the trainer marks weights as demo)."""
    root = tmp_path_factory.mktemp("tiny_phantoms")
    for seed in TINY_SEEDS:
        images, label = tiny_phantom_arrays(seed)
        write_tiny_case(root, f"Phantom-tiny-{seed}", images, label)
    return root


def sphere_case_arrays(seed: int, edge: int = 48) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Four noisy contrasts of a head-sized blob with a tumour of all three labels (enhancing rim, core, oedema)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(edge)] * 3, indexing="ij"), axis=-1).astype(np.float32)
    head = np.linalg.norm(grid - edge / 2, axis=-1) < edge * 0.45
    radius = np.linalg.norm(grid - (edge / 2 + rng.integers(-4, 5, 3)), axis=-1)
    label = np.where(radius < 10, 2, 0)
    label = np.where(radius < 6, 4, label)
    label = np.where(radius < 4, 1, label).astype(np.uint8) * head
    images = {name: (head * (1.0 + 0.3 * label + 0.1 * index) + rng.normal(0, 0.05, head.shape)).astype(np.float32)
              for index, name in enumerate(("t1", "t1ce", "t2", "flair"))}
    return images, label.astype(np.uint8)


@pytest.fixture(scope="session")
def sphere_case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sphere cases in BraTS 2020 layout, for tests that must run where nilearn is missing (the GPU image)."""
    root = tmp_path_factory.mktemp("sphere_cases")
    for seed in (1, 2):
        write_tiny_case(root, f"Phantom-sphere-{seed}", *sphere_case_arrays(seed))
    return root


@pytest.fixture(autouse=True)
def single_torch_thread() -> Iterator[None]:
    """Train the tiny networks on one intra-op thread: measured on this 2-core machine while other processes
    kept a core busy, a 32^3 training step took 0.05 s on one thread and 3-5 s on two (OpenMP threads
    waiting for a busy core), so one thread is both faster and steadier for these small tensors."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
