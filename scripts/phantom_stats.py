"""Label-volume ranges and per-case time of the phantom generator, as a markdown table.

Usage (from the repository root):
    .venv/bin/python scripts/phantom_stats.py --n 20 --first-seed 0

Seeds first-seed .. first-seed+n-1 go straight to generate_phantom (default PhantomConfig); every case is
also written (to a temporary folder that is deleted afterwards) so the time covers what `phantoms` does.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from trainer.phantoms import generate_phantom, write_phantom
from trainer.phantoms.anatomy import load_mni_anatomy

REGIONS = ("NCR", "ED", "ET", "TC", "WT")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20, help="number of phantoms (default 20)")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first phantom (default 0)")
    return parser.parse_args()


def main() -> None:
    args = _parse_args()
    if args.n < 1:
        raise SystemExit("--n must be at least 1")
    started = time.perf_counter()
    load_mni_anatomy()
    load_seconds = time.perf_counter() - started
    volumes: dict[str, list[float]] = {region: [] for region in REGIONS}
    generate_times, write_times, low_grade, multifocal = [], [], 0, 0
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(args.first_seed, args.first_seed + args.n):
            started = time.perf_counter()
            phantom = generate_phantom(seed)
            generated = time.perf_counter()
            write_phantom(phantom, Path(scratch), f"seed-{seed}")
            generate_times.append(generated - started)
            write_times.append(time.perf_counter() - generated)
            for region in REGIONS:
                volumes[region].append(phantom.metadata["volumes_ml"][region])
            low_grade += phantom.metadata["low_grade"]
            multifocal += phantom.metadata["n_foci"] > 1
    last = args.first_seed + args.n - 1
    print(
        f"Label volumes (mL) over {args.n} phantoms, seeds {args.first_seed}..{last}, default PhantomConfig:\n"
    )
    print("| region | min | median | max |")
    print("|---|---:|---:|---:|")
    for region in REGIONS:
        values = volumes[region]
        print(f"| {region} | {min(values):.1f} | {statistics.median(values):.1f} | {max(values):.1f} |")
    total = [g + w for g, w in zip(generate_times, write_times, strict=True)]
    print(
        f"\nLow-grade cases (no ET): {low_grade}; multifocal cases: {multifocal}; "
        f"cases with ET: {sum(v > 0 for v in volumes['ET'])}."
    )
    print(
        f"One-time MNI152 load: {load_seconds:.2f} s. Per case: generate mean {statistics.mean(generate_times):.2f} s, "
        f"write mean {statistics.mean(write_times):.2f} s, generate+write mean {statistics.mean(total):.2f} s, "
        f"max {max(total):.2f} s."
    )


if __name__ == "__main__":
    main()
