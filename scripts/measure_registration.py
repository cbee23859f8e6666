"""Registration settings on a native-like study: seconds of the three registrations onto the T1ce and their
error. The study's contrasts are resampled from one co-registered case, so the true transform is the identity:
the error is the largest distance a transform moves a corner of the source's brain box (mm). Settings are
interleaved run by run.

Usage (repository root):

    python scripts/measure_registration.py [--source CASE] [--skull] [--settings 0,1.5] [--workers 1] [--runs 3]

A setting is ``RegistrationConfig.finest_spacing_mm`` (0: every level, the full-resolution one included),
optionally followed by ``:`` and ``RegistrationConfig.max_samples`` (e.g. ``1.5:20000``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from engine.bench.native_study import native_like_study
from engine.case import find_case_files
from engine.io.inputs import load_inputs, plan_inputs
from engine.preprocess.registration import RegistrationConfig, RigidResult, register_rigid_all
from engine.preprocess.skullstrip import nonzero_brain_mask

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real" / "TCGA-DU-7294"


def brain_box_corners_mm(source: Path) -> np.ndarray:
    """The 8 corners of the source's brain box (nonzero voxels of its contrasts) in LPS mm (ITK's world)."""
    images = [nib.load(path) for path in find_case_files(source).values()]
    points = np.argwhere(nonzero_brain_mask([np.asarray(image.dataobj) for image in images]))
    index = np.array(list(itertools.product(*zip(points.min(0), points.max(0), strict=True))), float)
    return (images[0].affine @ np.c_[index, np.ones(8)].T).T[:, :3] * [-1, -1, 1]


def error_mm(result: RigidResult, points: np.ndarray) -> float:
    """Largest distance the transform moves ``points`` (the truth is the identity)."""
    return max(float(np.linalg.norm(np.subtract(result.transform.TransformPoint(tuple(p)), p))) for p in points)


def setting_config(setting: str, workers: int) -> RegistrationConfig:
    """The registration settings named by ``FINEST[:MAX_SAMPLES]``."""
    finest, _, samples = setting.partition(":")
    extra = {"max_samples": int(samples)} if samples else {}
    return RegistrationConfig(workers=workers, finest_spacing_mm=float(finest), **extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REAL)
    parser.add_argument("--skull", action="store_true", help="put a simulated skull back (as the benchmark's default)")
    parser.add_argument("--settings", default="0,1.5", help="finest_spacing_mm[:max_samples] values")
    parser.add_argument("--workers", type=int, default=1, help="registrations side by side")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("registration.json"))
    args = parser.parse_args()
    study = native_like_study(args.source, Path(tempfile.mkdtemp(prefix="revseg-reg-")) / "study", skull=args.skull)
    images = load_inputs(plan_inputs(study))
    fixed = (images["t1ce"].data, images["t1ce"].grid)
    moving = {role: (images[role].data, images[role].grid) for role in ("t1", "t2", "flair")}
    points = brain_box_corners_mm(args.source)
    seconds: dict[str, list[float]] = {name: [] for name in args.settings.split(",")}
    errors: dict[str, dict[str, list[float]]] = {name: {role: [] for role in moving} for name in seconds}
    for run in range(args.runs):
        for name in seconds:
            start = time.perf_counter()
            config = setting_config(name, args.workers)
            results = register_rigid_all(fixed, moving, config)
            seconds[name].append(round(time.perf_counter() - start, 3))
            for role, result in results.items():
                errors[name][role].append(round(error_mm(result, points), 3))
            print(f"run {run + 1} finest {name} mm: {seconds[name][-1]:.2f} s, errors (mm) "
                  f"{ {role: values[-1] for role, values in errors[name].items()} }", flush=True)
    args.json.write_text(json.dumps({"study": str(study), "skull": args.skull, "workers": args.workers,
                                     "seconds": seconds, "error_mm": errors}, indent=2) + "\n", encoding="utf-8")
    print(f"| finest level spacing (mm) | median s ({args.workers} side by side) | runs (s) | "
          "largest error T1 / T2 / FLAIR (mm) |")
    print("|---|---|---|---|")
    for name, values in seconds.items():
        worst = " / ".join(f"{max(errors[name][role]):.2f}" for role in moving)
        print(f"| {name} | {statistics.median(values):.2f} | {', '.join(map(str, values))} | {worst} |")


if __name__ == "__main__":
    main()
