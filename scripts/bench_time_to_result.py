"""CPU time to result: today's segment path and the new one, timed in the same run, median of N runs.

Usage (from the repository root):

    python scripts/bench_time_to_result.py [--case DIR ...] [--runs 3] [--json FILE] [--work DIR]

Cases: TCGA-DU-7294 (already co-registered and skull-stripped, 1 mm) and a native-like study made from it
here: each contrast resampled onto its own 0.9 x 0.9 x 5 mm grid, rotated differently per contrast, so the
contrasts are not co-registered and registration runs (the source is skull-stripped, so the skull stays off).

Paths, interleaved run by run so that both see the same machine load (both load the weights, then
``segment_case`` with the loaded segmenter; NIfTI + DICOM-SEG written):
    today: the earlier CPU path - ``PredictorConfig(cpu_channels_last=False, cpu_backend="eager")``;
    eager: channels-last 3D tiles on the CPU, torch given every core unless pinned (``cpu_backend="eager"``);
    new:   the current defaults - ONNX Runtime on the CPU (``engine.inference.onnx_cpu``; the one-off export
           of the weights runs before the timed runs and is reported apart), else as ``eager``.
Registration of contrasts on the T1ce's grid was already skipped before issue 19, so both paths skip it.
Prints a table of median stage times and the Dice (labels 1, 2, 4 and whole tumour) of the new native label
map against today's, and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from engine.case import find_case_files
from engine.geometry import Grid, resample
from engine.inference.predictor import PredictorConfig
from engine.metrics import dice
from engine.preprocess.registration import WORKERS_ENV
from engine.segment import load_segmenter, segment_case

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real" / "TCGA-DU-7294"
PATHS = {"today": {"cpu_channels_last": False, "cpu_backend": "eager"}, "eager": {"cpu_backend": "eager"}, "new": {}}
NATIVE_SPACING = (0.9, 0.9, 5.0)
ROTATIONS_DEG = {"t1ce": (6, -4, 3), "t1": (2, 3, -2), "t2": (-3, 1, 4), "flair": (4, 4, 0)}
SUFFIX = {"t1ce": "t1c", "t1": "t1", "t2": "t2", "flair": "fla"}


def native_like_study(source: Path, folder: Path) -> Path:
    """Each contrast of ``source`` resampled onto its own rotated 0.9 x 0.9 x 5 mm grid (NIfTI folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = find_case_files(source)
    for role, angles in ROTATIONS_DEG.items():
        image = nib.load(files[role])
        grid = Grid(image.shape, image.affine)
        centre = (grid.affine @ np.r_[(np.array(grid.shape) - 1) / 2, 1])[:3]
        extent = np.array(grid.shape) * np.abs(np.diag(grid.affine)[:3])
        shape = tuple(int(np.ceil(e / s)) for e, s in zip(extent, NATIVE_SPACING, strict=True))
        affine = np.eye(4)
        affine[:3, :3] = Rotation.from_euler("xyz", angles, degrees=True).as_matrix() @ np.diag(NATIVE_SPACING)
        affine[:3, 3] = centre - affine[:3, :3] @ ((np.array(shape) - 1) / 2)
        data = resample(np.asarray(image.dataobj, dtype=np.float32), grid, Grid(shape, affine))
        nib.save(nib.Nifti1Image(data.astype(np.float32), affine), folder / f"native_{SUFFIX[role]}.nii.gz")
    return folder


def _agreement(new: Path, today: Path) -> dict[str, float]:
    a, b = (np.asarray(nib.load(str(p)).dataobj) for p in (new, today))
    scores = {f"label {v}": round(dice(a == v, b == v), 4) for v in (1, 2, 4) if (a == v).any() or (b == v).any()}
    scores["WT"] = round(dice(a > 0, b > 0), 4)
    return scores


def bench_case(case: Path, runs: int, work: Path) -> dict[str, object]:
    """Median stage times of both paths on ``case`` and the Dice of new against today."""
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in PATHS}
    outputs: dict[str, Path] = {}
    for run in range(runs):
        for name, options in PATHS.items():
            out = work / f"{case.name}-{name}-{run}" / "seg.nii.gz"
            start = time.perf_counter()
            segmenter = load_segmenter(None, PredictorConfig(device="cpu", **options))
            loaded = time.perf_counter() - start
            result = segment_case(case, None, out, dicom_seg=out.with_name("seg.dcm"), segmenter=segmenter)
            timings[name].append(result.timings_s | {"load": round(loaded, 2),
                                                     "total": round(result.timings_s["total"] + loaded, 2)})
            outputs[name] = out
            print(f"  {case.name} run {run + 1} {name}: total {timings[name][-1]['total']:.1f} s "
                  f"(tile {result.tile}), load average {os.getloadavg()[0]:.2f}", flush=True)
    medians = {name: {stage: round(statistics.median(t[stage] for t in runs_), 2) for stage in runs_[0]}
               for name, runs_ in timings.items()}
    return {"case": case.name, "medians_s": medians, "runs_s": timings,
            "dice_vs_today": {name: _agreement(outputs[name], outputs["today"]) for name in PATHS if name != "today"}}


def export_once() -> float:
    """Seconds the default CPU path spends on its one-off ONNX export of the bundled weights (0 when cached)."""
    segmenter = load_segmenter(None, PredictorConfig(device="cpu"))
    start = time.perf_counter()
    segmenter.predictor.predict(np.zeros((4, 128, 128, 128), np.float32))
    return round(time.perf_counter() - start, 1)


def bench_warm(source: Path, device: str, runs: int, work: Path,
               registration_workers: tuple[str, ...] = ()) -> dict[str, object]:
    """GPU end to end after a warm start: the model is loaded (and run once) first, then each run turns the
    native-like study made from ``source`` into the NIfTI and the DICOM-SEG on disk.

    ``registration_workers`` (e.g. ``("1", "auto")``): settings of REVSEG_REGISTRATION_WORKERS to interleave run by
    run, timed apart, with the Dice of each setting's label map against the first's; empty times the default only.
    """
    study = native_like_study(source, work / "native-like" / f"{source.name}-native")
    start = time.perf_counter()
    segmenter = load_segmenter(None, PredictorConfig(device=device))
    segment_case(study, None, work / "warm-up" / "seg.nii.gz", segmenter=segmenter)  # CUDA init, graphs, caches
    warm_up = time.perf_counter() - start
    settings = registration_workers or ("default",)
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
    outputs: dict[str, Path] = {}
    for run in range(runs):
        for name in settings:
            out = work / f"run-{run}-{name}" / "seg.nii.gz"
            with _registration_workers(name):
                wall = time.perf_counter()
                result = segment_case(study, None, out, dicom_seg=out.with_name("seg.dcm"), segmenter=segmenter)
            timings[name].append(result.timings_s | {"wall": round(time.perf_counter() - wall, 3)})
            outputs[name] = out
            print(f"  run {run + 1} ({name}): " + ", ".join(f"{k} {v:.2f} s" for k, v in timings[name][-1].items()),
                  flush=True)
    medians = {name: {k: round(statistics.median(t[k] for t in ts), 3) for k in ts[0]} for name, ts in timings.items()}
    result = {"case": study.name, "device": device, "warm_up_s": round(warm_up, 2), "runs_s": timings,
              "medians_s": medians[settings[0]], "files": sorted(p.name for p in outputs[settings[0]].parent.iterdir())}
    if registration_workers:
        result["medians_by_registration_workers"] = medians
        result["dice_vs_first"] = {name: _agreement(outputs[name], outputs[settings[0]]) for name in settings[1:]}
    return result


@contextlib.contextmanager
def _registration_workers(name: str) -> Iterator[None]:
    """REVSEG_REGISTRATION_WORKERS set to ``name`` (unset for "auto" / "default") for the block."""
    before = os.environ.pop(WORKERS_ENV, None)
    if name not in ("auto", "default"):
        os.environ[WORKERS_ENV] = name
    try:
        yield
    finally:
        os.environ.pop(WORKERS_ENV, None)
        if before is not None:
            os.environ[WORKERS_ENV] = before


def print_table(results: list[dict[str, object]]) -> None:
    stages = ("load", "prepare", "infer", "postprocess", "export", "total")
    print("| case | path | " + " | ".join(stages) + " | Dice vs today |")
    print("|---|---|" + "---|" * (len(stages) + 1))
    for result in results:
        for name, medians in result["medians_s"].items():
            agreement = ", ".join(f"{k} {v}" for k, v in result["dice_vs_today"].get(name, {}).items())
            print(f"| {result['case']} | {name} | " + " | ".join(f"{medians[s]:.1f}" for s in stages) +
                  f" | {agreement} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, nargs="*", help="case folders (default: TCGA-DU-7294 + native-like)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("bench-time-to-result.json"))
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--warm", metavar="DEVICE", help="warm-start end-to-end mode on DEVICE (e.g. cuda): the "
                        "model loaded once, then --runs runs of the native-like study made from --case (one case)")
    parser.add_argument("--registration-workers", default="", metavar="LIST",
                        help="with --warm: comma-separated REVSEG_REGISTRATION_WORKERS settings to interleave run by "
                        "run (e.g. 1,auto: registrations one after another against side by side)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="revseg-bench-"))
    if args.warm:
        settings = tuple(v.strip() for v in args.registration_workers.split(",") if v.strip())
        result = bench_warm((args.case or [REAL])[0], args.warm, args.runs, work, settings)
        for name, medians in result.get("medians_by_registration_workers", {}).items():
            agreement = result["dice_vs_first"].get(name, "first")
            print(f"registration workers {name}: prepare {medians['prepare']:.2f} s, wall {medians['wall']:.2f} s, "
                  f"Dice vs the first setting {agreement}")
        print("| stage | " + " | ".join(result["medians_s"]) + " |")
        print("|---|" + "---|" * len(result["medians_s"]))
        print(f"| median of {args.runs} (s) | " + " | ".join(f"{v:.2f}" for v in result["medians_s"].values()) + " |")
        print(f"warm-up (load + first run) {result['warm_up_s']} s; outputs {result['files']}")
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"written {args.json}")
        return
    cases = args.case or [REAL, native_like_study(REAL, work / "native-like" / "TCGA-DU-7294-native")]
    load_before = os.getloadavg()
    export_s = export_once()
    print(f"one-off ONNX export (and one 128^3 tile): {export_s} s", flush=True)
    results = [bench_case(case, args.runs, work / "out") for case in cases]
    record = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": platform.node(),
              "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
              "torch_interop_threads": torch.get_num_interop_threads(), "runs": args.runs,
              "load_average_start": [round(v, 2) for v in load_before],
              "load_average_end": [round(v, 2) for v in os.getloadavg()],
              "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
              "paths": PATHS, "export_and_first_tile_s": export_s, "results": results}
    print_table(results)
    print(f"load average start {record['load_average_start']}, end {record['load_average_end']}; "
          f"peak RSS {record['peak_rss_gib']} GiB")
    args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
