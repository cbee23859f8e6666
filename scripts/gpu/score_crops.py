"""Score checkpoints on cached cases (real crops or held-out synthetic v2) on the GPU machine, which lacks the
full input pipeline's packages (SimpleITK, pydicom): the same normalisation (z-score in the non-zero brain),
predictor, region labels, brain-mask restriction and post-processing as `engine.segment`, on cases that are
already in BraTS space. Prints a table and writes JSON.

    python3 scripts/gpu/score_crops.py --cache RUN/cache --cases A,B --weights NAME=ckpt ... --out scores.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import load_model
from engine.evaluation.scoring import LabelImage, score_pair
from engine.inference.postprocess import PostprocessConfig, labels_from_regions, postprocess
from engine.inference.predictor import Predictor, PredictorConfig
from trainer.data import cached_cases


def predict_label(predictor: Predictor, image: np.ndarray, post: PostprocessConfig) -> np.ndarray:
    mask = np.any(image != 0, axis=0)
    with torch.no_grad():
        logits = predictor.predict(image.astype(np.float32))
    label = labels_from_regions(torch.sigmoid(logits).numpy(), post.threshold)
    label[~mask] = 0
    return postprocess(label, 0.001, post, mask, (1.0, 1.0, 1.0)).label


def score(label: np.ndarray, reference: np.ndarray, case_id: str) -> dict:
    """`evaluate`'s scores (engine.evaluation.scoring.score_pair) on a 1 mm cached case, as a flat record."""
    def image(array: np.ndarray) -> LabelImage:
        return LabelImage(Path(case_id), array, np.eye(4), "brats2020")

    scores = score_pair(image(label), image(reference))
    regions = ("ET", "TC", "WT")
    has = scores.reference_has
    record = {f"dice_{r}": (scores.regions[r].dice if has[r] else None) for r in regions}
    record |= {f"hd95_{r}": (scores.regions[r].hd95 if has[r] else None) for r in regions}
    record |= {f"ml_{r}": [round(scores.volumes_ml[r]["ours"], 2), round(scores.volumes_ml[r]["reference"], 2)]
               for r in regions}
    fp = scores.false_positives
    record |= {"fp_wt_n": fp.wt_count, "fp_wt_ml": round(fp.wt_ml, 2), "fp_et_n": fp.et_count,
               "fp_et_ml": round(fp.et_ml, 2), "fp_et_max_ml": round(fp.largest_et_ml, 2)}
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--cases", default="", help="comma-separated case ids (default: all in the cache)")
    parser.add_argument("--weights", action="append", required=True, help="NAME=checkpoint, or NAME=ckpt@CASES "
                        "to score that model only on the given '+'-separated cases")
    parser.add_argument("--min-lesion-ml", type=float, default=None)
    parser.add_argument("--tta", action="store_true", help="mirroring test-time augmentation (8 flips)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    post = PostprocessConfig() if args.min_lesion_ml is None else PostprocessConfig(min_component_ml=args.min_lesion_ml)
    cases = {c.case_id: c for c in cached_cases(args.cache)}
    wanted = [c for c in args.cases.split(",") if c] or sorted(cases)
    results = []
    for spec in args.weights:
        name, _, rest = spec.partition("=")
        path, _, only = rest.partition("@")
        network, _ = load_model(path, "cpu")
        predictor = Predictor(network, PredictorConfig(device="cuda" if torch.cuda.is_available() else "cpu",
                                                               tta=args.tta))
        for case_id in (only.split("+") if only else wanted):
            image, reference = cases[case_id].load(mmap=False)
            label = predict_label(predictor, image, post)
            results.append({"model": name, "case": case_id, **score(label, np.asarray(reference), case_id)})
        predictor.release()  # free the GPU memory of this model's CUDA graphs before the next model
    args.out.write_text(json.dumps({"postprocess": post.__dict__, "results": results}, indent=1))
    print(f"{'model':10} {'case':22} {'ET':>6} {'TC':>6} {'WT':>6}  fpET(n/mL/max)")
    for r in results:
        dice = " ".join("   n/a" if r[f"dice_{k}"] is None else f"{r[f'dice_{k}']:6.3f}" for k in ("ET", "TC", "WT"))
        print(f"{r['model']:10} {r['case']:22} {dice}  {r['fp_et_n']}/{r['fp_et_ml']}/{r['fp_et_max_ml']}")


if __name__ == "__main__":
    main()
