"""Registration settings on a native-like study: seconds of the three registrations onto the T1ce and how far
each setting's transforms move points against the first setting's (largest displacement over the T1ce's field
of view, mm). Settings are interleaved run by run.

Usage (repository root; a GPU machine or a workstation, where the cores matter):

    python scripts/measure_registration.py [--source CASE] [--skull] [--settings 3x0,3x5,3x2,1x0] [--runs 3]

A setting ``WxT`` runs the registrations W side by side with T ITK threads each (T=0: ITK's default, every core).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.bench.native_study import native_like_study
from engine.geometry import Grid
from engine.io.inputs import load_inputs, plan_inputs
from engine.preprocess.registration import RegistrationConfig, RigidResult, register_rigid_all

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real" / "TCGA-DU-7294"


def corners_mm(grid: Grid) -> np.ndarray:
    """The 8 corners of ``grid``'s field of view in LPS mm (ITK's world)."""
    index = np.array(list(itertools.product(*[(0, n - 1) for n in grid.shape])), float)
    return (grid.affine @ np.c_[index, np.ones(8)].T).T[:, :3] * [-1, -1, 1]


def largest_shift_mm(a: RigidResult, b: RigidResult, points: np.ndarray) -> float:
    return max(float(np.linalg.norm(np.subtract(a.transform.TransformPoint(tuple(p)), b.transform.TransformPoint(tuple(p)))))
               for p in points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REAL)
    parser.add_argument("--skull", action="store_true", help="put a simulated skull back (as the benchmark's default)")
    parser.add_argument("--settings", default="3x0,3x5,3x2,1x0")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("registration.json"))
    args = parser.parse_args()
    study = native_like_study(args.source, Path(tempfile.mkdtemp(prefix="revseg-reg-")) / "study", skull=args.skull)
    images = load_inputs(plan_inputs(study))
    fixed = (images["t1ce"].data, images["t1ce"].grid)
    moving = {role: (images[role].data, images[role].grid) for role in ("t1", "t2", "flair")}
    points = corners_mm(images["t1ce"].grid)
    settings = [tuple(int(v) for v in s.split("x")) for s in args.settings.split(",")]
    seconds: dict[str, list[float]] = {f"{w}x{t}": [] for w, t in settings}
    shifts: dict[str, list[float]] = {name: [] for name in seconds}
    first: dict[str, RigidResult] = {}
    for run in range(args.runs):
        for workers, threads in settings:
            name = f"{workers}x{threads}"
            start = time.perf_counter()
            results = register_rigid_all(fixed, moving, RegistrationConfig(workers=workers, itk_threads=threads))
            seconds[name].append(round(time.perf_counter() - start, 3))
            first = first or results
            shifts[name].append(round(max(largest_shift_mm(results[r], first[r], points) for r in moving), 3))
            print(f"run {run + 1} {name}: {seconds[name][-1]:.2f} s, largest shift {shifts[name][-1]:.3f} mm", flush=True)
    args.json.write_text(json.dumps({"study": str(study), "skull": args.skull, "seconds": seconds, "shift_mm": shifts},
                                    indent=2) + "\n", encoding="utf-8")
    print("| workers x ITK threads | median s | runs (s) | largest shift vs the first setting's first run (mm) |")
    print("|---|---|---|---|")
    for name in seconds:
        print(f"| {name} | {statistics.median(seconds[name]):.2f} | {', '.join(map(str, seconds[name]))} | "
              f"{max(shifts[name]):.3f} |")


if __name__ == "__main__":
    main()
