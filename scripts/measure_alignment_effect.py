"""How the registration's levels change the segmentation of a native-like study, measured against the truth.

The native-like study (``engine.bench.native_study``) resamples each contrast of one co-registered case onto its
own rotated grid, so the true transforms are known: the identity. This script segments the study three ways on
one device and prints the Dice (labels 1, 2, 4, whole tumour) of each label map against the others:
    finest F:    registration with levels finer than F mm skipped (``REVSEG_REGISTRATION_FINEST_MM=F``; 0 runs
                 every level, as before issue 19), one way per value of ``--settings``;
    truth:       the registrations replaced by the true (identity) transforms, i.e. perfect alignment.

Usage (repository root):

    python scripts/measure_alignment_effect.py [--source CASE] [--skull] [--device cpu] [--settings 0,1.5,2]

Each setting is compared with the truth and with the first setting.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from bench_time_to_result import environment, label_dice  # the sibling script (scripts/ is on sys.path)

import engine.prepare
from engine.bench.native_study import native_like_study
from engine.inference.predictor import PredictorConfig
from engine.preprocess.registration import FINEST_ENV, RigidResult
from engine.segment import load_segmenter, segment_case

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real" / "TCGA-DU-7294"


def identity_registrations(fixed: object, moving: dict[str, object], *args: object, **kwargs: object
                           ) -> dict[str, RigidResult]:
    """What ``register_rigid_all`` would return if it found the truth: the identity for every contrast."""
    return {role: RigidResult(sitk.Euler3DTransform(), 0.0, "true transform (identity)", 0) for role in moving}


@contextlib.contextmanager
def way(name: str) -> Iterator[None]:
    """The environment / patch of one way of registering."""
    if name == "truth":
        with mock.patch.object(engine.prepare, "register_rigid_all", identity_registrations):
            yield
        return
    with environment({FINEST_ENV: name.removeprefix("finest ")}):
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REAL)
    parser.add_argument("--skull", action="store_true", help="put a simulated skull back (the benchmark's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", default="0,1.5", help="finest_spacing_mm values, the first the baseline")
    parser.add_argument("--json", type=Path, default=Path("alignment-effect.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="revseg-align-"))
    study = native_like_study(args.source, work / "study", skull=args.skull)
    segmenter = load_segmenter(None, PredictorConfig(device=args.device))
    labels = {}
    ways = [f"finest {value}" for value in args.settings.split(",")] + ["truth"]
    for name in ways:
        with way(name):
            result = segment_case(study, None, work / name / "seg.nii.gz", segmenter=segmenter)
        labels[name] = np.asarray(nib.load(result.files["nifti"]).dataobj)
        print(f"{name}: WT {result.volumes_ml['WT']:.1f} mL, prepare {result.timings_s['prepare']:.1f} s", flush=True)
    compared = [(name, "truth") for name in ways[:-1]] + [(name, ways[0]) for name in ways[1:-1]]
    pairs = {f"{a} vs {b}": label_dice(labels[a], labels[b]) for a, b in compared}
    args.json.write_text(json.dumps({"study": str(study), "skull": args.skull, "device": args.device,
                                     "dice": pairs}, indent=2) + "\n", encoding="utf-8")
    print("| label maps | " + " | ".join(next(iter(pairs.values()))) + " |")
    print("|---|" + "---|" * len(next(iter(pairs.values()))))
    for pair, scores in pairs.items():
        print(f"| {pair} | " + " | ".join(str(v) for v in scores.values()) + " |")


if __name__ == "__main__":
    main()
