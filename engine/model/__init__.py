"""Reversible MBConv 3D U-Net: config, blocks, reversible couplings, network and cost counting.

Imports only torch (and the standard library), so the GPU benchmark machine can use it without the
medical-imaging stack.
"""

from __future__ import annotations

from engine.model.blocks import MBConv3d
from engine.model.config import UNetConfig
from engine.model.flops import ModelCost, count_parameters, model_cost
from engine.model.reversible import ReversibleCoupling, ReversibleSequence
from engine.model.unet import RevSegUNet, build_network

__all__ = [
    "MBConv3d",
    "ModelCost",
    "ReversibleCoupling",
    "ReversibleSequence",
    "RevSegUNet",
    "UNetConfig",
    "build_network",
    "count_parameters",
    "model_cost",
]
