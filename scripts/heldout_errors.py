"""Where a checkpoint's whole-tumour errors lie on cached cases (held-out synthetic v2.x or real crops).

For each case: the predicted WT outside the reference by distance from it (mm), the reference WT missed by depth
inside it, the missed volume per reference label, and each channel's median intensity (z-scores) in the true
positives, the misses, the false positives and the rest of the brain. A miss whose FLAIR / T2 medians sit near
the normal brain's is a label the images do not show; a false positive far from the reference that is as bright as
the tumour is something else the image makes look like tumour (issue 14, round 8: deep grey matter drawn as bright
as oedema).

    python scripts/heldout_errors.py --cache /tmp/v22/heldout --weights CKPT [--cases ID,ID]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent / "gpu"))
from score_crops import predict_label  # noqa: E402 - the product's prediction path on a cached case

from engine.checkpoint import load_model  # noqa: E402
from engine.inference.postprocess import PostprocessConfig  # noqa: E402
from engine.inference.predictor import Predictor, PredictorConfig  # noqa: E402
from engine.metrics import dice  # noqa: E402
from trainer.data import cached_cases  # noqa: E402

CHANNELS = ("T1", "T1ce", "T2", "FLAIR")
BANDS_MM = ((0, 1), (1, 2), (2, 4), (4, 8), (8, math.inf))


def ml(mask: np.ndarray) -> float:
    return float(mask.sum()) / 1000.0  # 1 mm voxels


def by_band(errors: np.ndarray, distance: np.ndarray) -> str:
    return " ".join(f"{ml(errors & (distance > a) & (distance <= b)):6.2f}" for a, b in BANDS_MM)


def medians(image: np.ndarray, mask: np.ndarray) -> str:
    if not mask.any():
        return "   -  " * len(CHANNELS)
    return " ".join(f"{float(np.median(image[c][mask])):6.2f}" for c in range(image.shape[0]))


def report(case_id: str, image: np.ndarray, reference: np.ndarray, label: np.ndarray) -> None:
    predicted, truth = label > 0, reference > 0
    brain = np.any(image != 0, axis=0)
    outside = ndimage.distance_transform_edt(~truth)
    inside = ndimage.distance_transform_edt(truth)
    print(f"\n{case_id}: WT Dice {dice(predicted, truth):.3f}, predicted {ml(predicted):.1f} mL, reference {ml(truth):.1f} mL")
    bands = " ".join(f"{f'>{a}' if b == math.inf else f'{a}-{b}':>6}" for a, b in BANDS_MM)
    print(f"  mL by distance (mm)       {bands}")
    print(f"  predicted outside         {by_band(predicted & ~truth, outside)}")
    print(f"  reference missed (depth)  {by_band(truth & ~predicted, inside)}")
    missed = ", ".join(f"label {v}: {ml((reference == v) & ~predicted):.2f} of {ml(reference == v):.2f}"
                       for v in np.unique(reference) if v)
    print(f"  missed per reference label: {missed}")
    print(f"  channel medians           {' '.join(f'{c:>6}' for c in CHANNELS)}")
    for name, mask in (("true positive", predicted & truth), ("missed", truth & ~predicted),
                       ("false positive", predicted & ~truth), ("other brain", brain & ~truth & ~predicted)):
        print(f"  {name:25} {medians(image, mask)}   ({ml(mask):.1f} mL)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--cases", default="", help="comma-separated case ids (default: all in the cache)")
    args = parser.parse_args()
    cases = {c.case_id: c for c in cached_cases(args.cache)}
    wanted = [c for c in args.cases.split(",") if c] or sorted(cases)
    unknown = [c for c in wanted if c not in cases]
    if unknown:
        parser.error(f"not in {args.cache}: {', '.join(unknown)}")
    network, _ = load_model(args.weights, "cpu")
    predictor = Predictor(network, PredictorConfig(device="cpu"))
    for case_id in wanted:
        image, reference = cases[case_id].load(mmap=False)
        label = predict_label(predictor, image, PostprocessConfig())
        report(case_id, image, np.asarray(reference), label)


if __name__ == "__main__":
    main()
