"""Synthetic v2: BraTS-style training cases generated from 20 real whole-head label maps (SynthSeg's).

Public API::

    SynthConfig, SynthCase, generate_case, generate_synthetic_cache, read_label_map, pack_anatomy

See docs/synthetic-v2.md for how a case is built and why.
"""

from __future__ import annotations

from trainer.synth.anatomy import AnatomyMap, anatomy_files, pack_anatomy, read_label_map
from trainer.synth.dataset import generate_synthetic_cache, synth_case_id
from trainer.synth.generator import SynthCase, SynthConfig, generate_case

__all__ = [
    "AnatomyMap",
    "SynthCase",
    "SynthConfig",
    "anatomy_files",
    "generate_case",
    "generate_synthetic_cache",
    "pack_anatomy",
    "read_label_map",
    "synth_case_id",
]
