"""Time the incremental measurement update after 5 mm brush strokes on a real 240 x 240 x 155 case.

What the measurement dock runs after an edit: ``engine.lesions.LesionCache.update`` (only the lesions whose
bounding box the edit touched are measured again) and ``engine.measure.measurements_from_cache`` (volumes and
key slices from per-slice counts). Each stroke: six dabs 2 mm apart of a 5 mm brush (radius 2.5 mm) in one
axial slice, at a random tumour voxel, painting background, oedema or enhancing tumour in turn.

    .venv/bin/python scripts/lesion_update_timing.py [--case ../shared/data/real/BraTS-GLI-00000-000] [--strokes 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from engine.case import load_case_folder  # noqa: E402
from engine.lesions import LesionCache, head_orientation  # noqa: E402
from engine.measure import measurements_from_cache  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=ROOT.parent / "shared" / "data" / "real" / "BraTS-GLI-00000-000")
    parser.add_argument("--strokes", type=int, default=20)
    args = parser.parse_args()
    case = load_case_folder(args.case)
    if case.label is None:
        raise SystemExit(f"{args.case} has no label map to edit")
    label = case.label.copy()
    cache = LesionCache(case.spacing, head_orientation(case.affine, case.reference.data))
    start = time.perf_counter()
    cache.update(label)
    measurements_from_cache(cache)
    first = time.perf_counter() - start
    rng = np.random.default_rng(0)
    tumour = np.argwhere(label > 0)
    i, j, k = np.ogrid[tuple(slice(0, n) for n in label.shape)]
    radius_voxels = 2.5 / case.spacing[0]
    times = []
    for stroke in range(args.strokes):
        centre = tumour[rng.integers(len(tumour))]
        for dab in range(6):
            x = centre[0] + (2 * dab - 5) / case.spacing[0]
            disc = ((i - x) ** 2 + (j - centre[1]) ** 2 <= radius_voxels**2) & (k == centre[2])
            label[disc] = (0, 2, 4)[stroke % 3]
        start = time.perf_counter()
        cache.update(label)
        measurements_from_cache(cache)
        times.append(time.perf_counter() - start)
    print(f"{args.case.name} {label.shape}: first computation {first:.3f} s; after a 5 mm stroke: median "
          f"{np.median(times):.3f} s, max {max(times):.3f} s ({args.strokes} strokes)")


if __name__ == "__main__":
    main()
