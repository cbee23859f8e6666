"""Synthetic BraTS-format brain-tumour phantoms built on the MNI152 anatomy shipped with nilearn.

Public API::

    PhantomConfig, Phantom, generate_phantom, write_phantom, generate_dataset

See docs/phantoms.md for how the generator works and what it produces.
"""

from __future__ import annotations

from trainer.phantoms.config import BRATS_AFFINE, BRATS_SHAPE, CONTRASTS, Phantom, PhantomConfig
from trainer.phantoms.generator import generate_phantom, label_volumes_ml
from trainer.phantoms.writer import case_id_for, case_seed, generate_dataset, write_phantom

__all__ = [
    "BRATS_AFFINE",
    "BRATS_SHAPE",
    "CONTRASTS",
    "Phantom",
    "PhantomConfig",
    "case_id_for",
    "case_seed",
    "generate_dataset",
    "generate_phantom",
    "label_volumes_ml",
    "write_phantom",
]
