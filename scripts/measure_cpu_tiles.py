"""Measure CPU inference time and agreement for tile / overlap / batch settings on a prepared case.

Usage (from the repository root; prepare the case first with ``main.py prepare``):

    python scripts/measure_cpu_tiles.py PREPARED_DIR [--configs 128:0.5:1 128:0.25:1 box:0:1] [--repeats 1]

Each config is TILE:OVERLAP:BATCH, TILE an edge in voxels or ``box`` (one tile covering the whole brain box).
The first config is the reference; every row reports its median time and the Dice of labels 1, 2, 4 and the
whole tumour of its label map against the reference's (working space, before post-processing).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from engine.inference.postprocess import labels_from_regions, labels_from_softmax
from engine.inference.predictor import PredictorConfig, round_to_multiple
from engine.metrics import dice
from engine.prepared import load_prepared
from engine.segment import brain_box, load_segmenter


def _labels(segmenter, image: np.ndarray) -> np.ndarray:
    logits = segmenter.predictor.predict(image).numpy()
    if segmenter.checkpoint.config.head == "softmax":
        return labels_from_softmax(logits)
    return labels_from_regions(1 / (1 + np.exp(-logits)), segmenter.postprocess.threshold)


def _agreement(label: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    scores = {str(v): dice(label == v, reference == v) for v in (1, 2, 4) if (reference == v).any() or (label == v).any()}
    scores["WT"] = dice(label > 0, reference > 0)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", type=Path)
    parser.add_argument("--configs", nargs="+", default=["128:0.5:1", "128:0.25:1", "box:0.5:1"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cache", type=Path, help="folder keeping each config's label map (reused if present)")
    args = parser.parse_args()
    prepared = load_prepared(args.prepared)
    box = brain_box(prepared.brain_mask)
    reference = None
    print(f"torch threads {torch.get_num_threads()}, brain box {[s.stop - s.start for s in box]}")
    for spec in args.configs:
        tile_text, overlap, batch = spec.split(":")
        segmenter = load_segmenter(None, PredictorConfig(device="cpu"))
        channels = segmenter.channels
        image = np.stack([prepared.volumes[r][box] for r in channels]).astype(np.float32)
        tile = (max(round_to_multiple(s, segmenter.predictor.multiple) for s in image.shape[1:])
                if tile_text == "box" else int(tile_text))
        segmenter = load_segmenter(None, PredictorConfig(device="cpu", tile=tile, overlap=float(overlap),
                                                         batch_size=int(batch)))
        cached = args.cache / f"{tile}-{overlap}-{batch}.npy" if args.cache else None
        times = []
        if cached is not None and cached.is_file():
            label, times = np.load(cached), [float("nan")]
        for _ in range(args.repeats if not times else 0):
            start = time.perf_counter()
            label = _labels(segmenter, image)
            times.append(time.perf_counter() - start)
        if cached is not None and not cached.is_file():
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, label)
        reference = label if reference is None else reference
        scores = _agreement(label, reference)
        print(f"tile {tile} overlap {overlap} batch {batch}: tiles {segmenter.predictor.last_tiles or '(cached)'}, "
              f"median {statistics.median(times):.1f} s, Dice vs first " +
              ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)


if __name__ == "__main__":
    main()
