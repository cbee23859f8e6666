"""Time to result: the segment path end to end, timed in one run (CPU paths side by side, or warm GPU variants).

Usage (from the repository root):

    python scripts/bench_time_to_result.py [--case DIR ...] [--native skull|stripped|both] [--runs 3]
                                           [--paths today,new] [--json FILE]
    python scripts/bench_time_to_result.py --warm cuda --case SOURCE [--variants before,default] [--runs 3]

Cases: TCGA-DU-7294 (already co-registered and skull-stripped, 1 mm) and a native-like study made from it here
(``engine.bench.native_study``): each contrast resampled onto its own 0.9 x 0.9 x 5 mm grid, rotated
differently per contrast, so the contrasts are not co-registered and three registrations run. By default a
simulated skull and scalp are put back around the real brain first (``--native skull``), so that the skull
strip (deepbet) runs as on a raw scanner study; ``--native stripped`` leaves the source's skull off.

CPU paths, interleaved run by run so that all see the same machine load (each loads the weights, then
``segment_case`` with the loaded segmenter; NIfTI + DICOM-SEG written):
    today: the earlier CPU path - ``PredictorConfig(cpu_channels_last=False, cpu_backend="eager")``, every
           registration level (``REVSEG_REGISTRATION_FINEST_MM=0``);
    eager: channels-last 3D tiles on the CPU, torch given every core unless pinned (``cpu_backend="eager"``);
    new:   the current defaults - ONNX Runtime on the CPU, tiles side by side (``engine.inference.onnx_cpu``; the
           one-off export of the weights runs before the timed runs and is reported apart), else as ``eager``.
``--paths today,new`` leaves ``eager`` out (today always runs: the Dice is taken against it).
Registration of contrasts on the T1ce's grid was already skipped before issue 19, so all paths skip it; eager
and new register without the full-resolution level (``RegistrationConfig.finest_spacing_mm``).
Prints a table of median stage times and the Dice (labels 1, 2, 4 and whole tumour) of each label map against
today's, and writes the figures as JSON.

``--warm DEVICE`` (a GPU): the model is loaded and run once per variant, then each run turns the native-like
study into the NIfTI + DICOM-SEG on disk; the variants of ``WARM_VARIANTS`` are interleaved run by run, with
the prepare stage's parts (load, register, resample, skull strip, normalise) and each variant's Dice against
the first's.
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

from engine.bench.native_study import native_like_study
from engine.inference.predictor import PredictorConfig
from engine.metrics import dice
from engine.prepare import SKULL_STRIP_DEVICE_ENV
from engine.preprocess.registration import FINEST_ENV, THREADS_ENV, WORKERS_ENV, default_workers
from engine.segment import SegmentResult, load_segmenter, segment_case
from engine.side_by_side import usable_cores

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real" / "TCGA-DU-7294"
PATHS = {"today": {"cpu_channels_last": False, "cpu_backend": "eager"}, "eager": {"cpu_backend": "eager"}, "new": {}}
# Environment of each CPU path: today's registers with every level (the full-resolution one included).
PATH_ENVIRONMENTS = {"today": {FINEST_ENV: "0"}}
# Warm-start (GPU) variants, interleaved run by run: environment settings of each. "before" is the GPU path as
# issue 19 found it (registrations one after another with every level, the CNN skull strip on the CPU);
# "default" is today's.
# "all-levels": today's path with every registration level (the full-resolution one included).
WARM_VARIANTS = {
    "before": {WORKERS_ENV: "1", SKULL_STRIP_DEVICE_ENV: "cpu", FINEST_ENV: "0"},
    "serial": {WORKERS_ENV: "1"},
    "all-levels": {FINEST_ENV: "0"},
    "default": {},
    # the cores shared out among the registrations side by side, instead of every core for each
    "split-threads": {THREADS_ENV: str(max(1, usable_cores() // default_workers()))},
}


def label_dice(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Dice of two BraTS label maps per label present in either (1, 2, 4) and for the whole tumour."""
    scores = {f"label {v}": round(dice(a == v, b == v), 4) for v in (1, 2, 4) if (a == v).any() or (b == v).any()}
    scores["WT"] = round(dice(a > 0, b > 0), 4)
    return scores


def _agreement(new: Path, today: Path) -> dict[str, float]:
    return label_dice(*(np.asarray(nib.load(str(p)).dataobj) for p in (new, today)))


def _stage_times(result: SegmentResult) -> dict[str, float]:
    """``segment``'s stage times with the prepare stage's parts (``prepare/load`` ...)."""
    return result.timings_s | {f"prepare/{k}": v for k, v in result.prepare_stages_s.items()}


def bench_case(case: Path, runs: int, work: Path, paths: tuple[str, ...] = tuple(PATHS)) -> dict[str, object]:
    """Median stage times of ``paths`` (today first) on ``case`` and the Dice of each against today."""
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
    outputs: dict[str, Path] = {}
    for run in range(runs):
        for name in paths:
            options = PATHS[name]
            out = work / f"{case.name}-{name}-{run}" / "seg.nii.gz"
            start = time.perf_counter()
            segmenter = load_segmenter(None, PredictorConfig(device="cpu", **options))
            loaded = time.perf_counter() - start
            with environment(PATH_ENVIRONMENTS.get(name, {})):
                result = segment_case(case, None, out, dicom_seg=out.with_name("seg.dcm"), segmenter=segmenter)
            timings[name].append(_stage_times(result) | {"load": round(loaded, 2),
                                                         "total": round(result.timings_s["total"] + loaded, 2)})
            outputs[name] = out
            print(f"  {case.name} run {run + 1} {name}: total {timings[name][-1]['total']:.1f} s "
                  f"(tile {result.tile}), load average {os.getloadavg()[0]:.2f}", flush=True)
    medians = {name: {stage: round(statistics.median(t[stage] for t in runs_), 2) for stage in runs_[0]}
               for name, runs_ in timings.items()}
    return {"case": case.name, "medians_s": medians, "runs_s": timings,
            "dice_vs_today": {name: _agreement(outputs[name], outputs["today"]) for name in paths if name != "today"}}


def export_once() -> float:
    """Seconds the default CPU path spends on its one-off ONNX export of the bundled weights (0 when cached)."""
    segmenter = load_segmenter(None, PredictorConfig(device="cpu"))
    start = time.perf_counter()
    segmenter.predictor.predict(np.zeros((4, 128, 128, 128), np.float32))
    return round(time.perf_counter() - start, 1)


def bench_warm(study: Path, device: str, runs: int, work: Path,
               variants: tuple[str, ...] = ("default",)) -> dict[str, object]:
    """GPU end to end after a warm start: the model is loaded (and run once) first, then each run turns the
    native-like ``study`` into the NIfTI and the DICOM-SEG on disk.

    ``variants`` (keys of ``WARM_VARIANTS``) are interleaved run by run, timed apart, with the Dice of each one's
    label map against the first's.
    """
    start = time.perf_counter()
    segmenter = load_segmenter(None, PredictorConfig(device=device))
    for name in variants:  # CUDA init, cuDNN autotuning, each variant's skull-strip device, highdicom's tables
        with environment(WARM_VARIANTS[name]):
            out = work / f"warm-up-{name}" / "seg.nii.gz"
            segment_case(study, None, out, dicom_seg=out.with_name("seg.dcm"), segmenter=segmenter)
    warm_up = time.perf_counter() - start
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    outputs: dict[str, Path] = {}
    for run in range(runs):
        for name in variants:
            out = work / f"run-{run}-{name}" / "seg.nii.gz"
            with environment(WARM_VARIANTS[name]):
                wall = time.perf_counter()
                result = segment_case(study, None, out, dicom_seg=out.with_name("seg.dcm"), segmenter=segmenter)
            timings[name].append(_stage_times(result) | {"wall": round(time.perf_counter() - wall, 3)})
            outputs[name] = out
            print(f"  run {run + 1} ({name}): " + ", ".join(f"{k} {v:.2f} s" for k, v in timings[name][-1].items()),
                  flush=True)
    medians = {name: {k: round(statistics.median(t[k] for t in ts), 3) for k in ts[0]} for name, ts in timings.items()}
    return {"case": study.name, "device": device, "warm_up_s": round(warm_up, 2), "runs_s": timings,
            "variants": {name: WARM_VARIANTS[name] for name in variants}, "medians_s": medians,
            "files": sorted(p.name for p in outputs[variants[-1]].parent.iterdir()),
            "dice_vs_first": {name: _agreement(outputs[name], outputs[variants[0]]) for name in variants[1:]}}


@contextlib.contextmanager
def environment(settings: dict[str, str]) -> Iterator[None]:
    """The variables of ``settings`` set, and the other variables of any path or warm variant unset, for the block."""
    names = {name for variant in (*WARM_VARIANTS.values(), *PATH_ENVIRONMENTS.values()) for name in variant}
    before = {name: os.environ.pop(name, None) for name in names}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)
            if before[name] is not None:
                os.environ[name] = before[name]


def print_warm(result: dict[str, object], runs: int) -> None:
    """Median stage times per variant (rows) and each variant's Dice against the first."""
    medians = result["medians_s"]
    stages = list(next(iter(medians.values())))
    print(f"| variant (median of {runs}, s) | " + " | ".join(stages) + " | Dice vs first |")
    print("|---|" + "---|" * (len(stages) + 1))
    for name, row in medians.items():
        agreement = ", ".join(f"{k} {v}" for k, v in result["dice_vs_first"].get(name, {}).items()) or "first"
        print(f"| {name} | " + " | ".join(f"{row[s]:.2f}" for s in stages) + f" | {agreement} |")
    print(f"warm-up (load + one run per variant) {result['warm_up_s']} s; outputs {result['files']}")


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
    parser.add_argument("--case", type=Path, nargs="*", help="case folders (default: TCGA-DU-7294 + a native-like "
                        "study made from it); with --warm, the source of the native-like study")
    parser.add_argument("--native", choices=("skull", "stripped", "both"), default="skull",
                        help="the native-like study (made from TCGA-DU-7294 or --warm's --case): with a simulated "
                        "skull put back (default; a skull strip runs), left stripped, or both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--paths", default=",".join(PATHS), metavar="LIST",
                        help=f"CPU paths to interleave run by run ({', '.join(PATHS)}; today is always run, for the Dice)")
    parser.add_argument("--json", type=Path, default=Path("bench-time-to-result.json"))
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--warm", metavar="DEVICE", help="warm-start end-to-end mode on DEVICE (e.g. cuda): the "
                        "model loaded once, then --runs runs of the native-like study made from --case (one case)")
    parser.add_argument("--variants", default="before,default", metavar="LIST",
                        help=f"with --warm: comma-separated variants to interleave run by run ({', '.join(WARM_VARIANTS)})")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="revseg-bench-"))
    if args.warm:
        variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
        unknown = [v for v in variants if v not in WARM_VARIANTS]
        if unknown or not variants:
            parser.error(f"--variants: unknown {unknown}; choose from {', '.join(WARM_VARIANTS)}")
        source = (args.case or [REAL])[0]
        results = [bench_warm(study, args.warm, args.runs, work / study.name, variants)
                   for study in native_studies(source, work, args.native)]
        for result in results:
            print(f"study {result['case']}:")
            print_warm(result, args.runs)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"written {args.json}")
        return
    paths = ("today", *(p for p in (v.strip() for v in args.paths.split(",")) if p and p != "today"))
    if unknown := [p for p in paths if p not in PATHS]:
        parser.error(f"--paths: unknown {unknown}; choose from {', '.join(PATHS)}")
    cases = args.case or [REAL, *native_studies(REAL, work, args.native)]
    load_before = os.getloadavg()
    export_s = export_once()
    print(f"one-off ONNX export (and one 128^3 tile): {export_s} s", flush=True)
    results = [bench_case(case, args.runs, work / "out", paths) for case in cases]
    record = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": platform.node(),
              "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
              "torch_interop_threads": torch.get_num_interop_threads(), "runs": args.runs,
              "load_average_start": [round(v, 2) for v in load_before],
              "load_average_end": [round(v, 2) for v in os.getloadavg()],
              "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
              "paths": {name: PATHS[name] for name in paths}, "export_and_first_tile_s": export_s, "results": results}
    print_table(results)
    print(f"load average start {record['load_average_start']}, end {record['load_average_end']}; "
          f"peak RSS {record['peak_rss_gib']} GiB")
    args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.json}")


def native_studies(source: Path, work: Path, which: str) -> list[Path]:
    """The native-like studies of ``--native`` made from ``source`` (skull-on first)."""
    kinds = {"skull": (True,), "stripped": (False,), "both": (True, False)}[which]
    return [native_like_study(source, work / "native-like" / f"{source.name}-native{'-skull' if skull else ''}",
                              skull=skull) for skull in kinds]


if __name__ == "__main__":
    main()
