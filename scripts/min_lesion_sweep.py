"""Choose the minimum lesion volume (post-processing) by measurement: re-score saved predictions with their small
components removed at several thresholds, against their references.

    python scripts/min_lesion_sweep.py PRED.nii.gz=REFERENCE.nii.gz [...] [--thresholds 0.1,0.25,0.5,1,2]

Each prediction was exported with the default post-processing; thresholds at or above that default give what
that default would have given. Prints, per threshold, the mean Dice per region, the false-positive components
outside the reference WT, and the lesions left (26-connected WT components).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.evaluation.scoring import false_positive_components, read_label_map
from engine.inference.postprocess import count_lesions, remove_small_components
from engine.metrics import region_scores


def sweep(pairs: list[tuple[Path, Path]], thresholds: list[float]) -> list[dict]:
    loaded = [(read_label_map(p), read_label_map(r)) for p, r in pairs]
    rows = []
    for threshold in thresholds:
        dice = {"ET": [], "TC": [], "WT": []}
        fp_n, fp_ml, lesions = 0, 0.0, 0
        for prediction, reference in loaded:
            label, _ = remove_small_components(prediction.label, threshold, reference.voxel_ml)
            scores = region_scores(label, reference.label, reference.spacing)
            for region in dice:
                if region != "ET" or (reference.label == 4).any():
                    dice[region].append(scores[region].dice)
            fp = false_positive_components(label, reference.label, reference.voxel_ml)
            fp_n, fp_ml, lesions = fp_n + fp.wt_count, fp_ml + fp.wt_ml, lesions + count_lesions(label)
        rows.append({"min_ml": threshold, **{k: float(np.mean(v)) for k, v in dice.items()},
                     "fp_components": fp_n, "fp_ml": round(fp_ml, 2), "lesions": lesions})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", help="PREDICTION=REFERENCE")
    parser.add_argument("--thresholds", default="0.1,0.25,0.5,1,2")
    args = parser.parse_args()
    pairs = [tuple(Path(p) for p in item.split("=", 1)) for item in args.pairs]
    print(f"{'min mL':>7} {'ET':>6} {'TC':>6} {'WT':>6} {'FP comp':>8} {'FP mL':>7} {'lesions':>8}  ({len(pairs)} cases)")
    for row in sweep(pairs, [float(t) for t in args.thresholds.split(",")]):
        print(f"{row['min_ml']:7.2f} {row['ET']:6.3f} {row['TC']:6.3f} {row['WT']:6.3f} {row['fp_components']:8d} "
              f"{row['fp_ml']:7.2f} {row['lesions']:8d}")


if __name__ == "__main__":
    main()
