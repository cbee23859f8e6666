"""Export stage with ``np.unique`` (before) against ``engine.labels.distinct_values`` (after), same process.

The native-like study of ``bench_time_to_result.py`` (made from TCGA-DU-7294 in --work) is segmented with the
bundled weights on the CPU, the two variants interleaved run by run; the first run of each warms caches and is
not counted. Prints each variant's export-stage seconds and median (docs/benchmarks.md, "Export stage").

    python scripts/measure_export_labels.py [--runs 4] [--work /tmp/revseg-export]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_time_to_result import REAL  # noqa: E402

import engine.geometry as geometry  # noqa: E402
import engine.labels as labels  # noqa: E402
import engine.segment as segment  # noqa: E402
from engine.bench.native_study import native_like_study  # noqa: E402
from engine.inference.predictor import PredictorConfig  # noqa: E402

VARIANTS = {"np.unique": lambda array: np.unique(array).tolist(), "distinct_values": labels.distinct_values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--work", type=Path, default=Path("/tmp/revseg-export"))
    args = parser.parse_args()
    study = args.work / "TCGA-DU-7294-native"
    if not study.is_dir():
        native_like_study(REAL, study)
    segmenter = segment.load_segmenter(None, PredictorConfig(device="cpu"))
    export, spent = segment._export, {}

    def timed_export(*a: object, **k: object) -> object:
        start = time.perf_counter()
        result = export(*a, **k)
        spent["s"] = time.perf_counter() - start
        return result

    segment._export = timed_export
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for run in range(args.runs):
        for name, helper in VARIANTS.items():
            labels.distinct_values = geometry.distinct_values = helper
            out = args.work / name / "seg.nii.gz"
            segment.segment_case(study, None, out, dicom_seg=out.with_name("seg.dcm"), segmenter=segmenter, force=True)
            if run:
                times[name].append(spent["s"])
    for name, values in times.items():
        print(f"{name}: export {[round(v, 3) for v in values]} s, median {statistics.median(values):.3f} s")


if __name__ == "__main__":
    main()
