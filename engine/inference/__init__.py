"""Sliding-window inference: splitter (tiling), importance weights, merger, predictor and post-processing.

The pieces are separate and small (as in MONAI's ``sliding_window_inference`` split into splitter and merger);
``engine.segment`` puts them together with case preparation and export.
"""

from __future__ import annotations

from engine.inference.merger import WeightedMerger
from engine.inference.postprocess import (
    PostprocessConfig,
    Segmentation,
    labels_from_regions,
    labels_from_softmax,
)
from engine.inference.predictor import Predictor, PredictorConfig, resolve_device
from engine.inference.tiling import TilePlan, plan_tiles
from engine.inference.weights import gaussian_importance_map

__all__ = [
    "PostprocessConfig", "Predictor", "PredictorConfig", "Segmentation", "TilePlan", "WeightedMerger",
    "gaussian_importance_map", "labels_from_regions", "labels_from_softmax", "plan_tiles", "resolve_device",
]
