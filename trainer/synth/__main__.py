"""``python -m trainer.synth`` (also ``main.py synth``): generate a synthetic v2 set into a trainer cache.

    python -m trainer.synth --anatomy ../shared/data/anatomy --out synth-cache --n 400 --seed 0 --workers 30
    python -m trainer.synth --anatomy ../shared/data/anatomy --pack packed-anatomy   # compact copies of the maps
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py synth", description=__doc__.splitlines()[0])
    parser.add_argument("--anatomy", type=Path, required=True,
                        help="folder of the SynthSeg label maps (training_seg_*.nii.gz) or of packed *.npz copies")
    parser.add_argument("--out", type=Path, help="cache folder to write the cases into (resumable)")
    parser.add_argument("--n", type=int, default=100, help="number of cases (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="the set's seed; held-out sets use another")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: all cores)")
    parser.add_argument("--device", default="cpu", help="cpu (reproducible) or cuda (workers spread over the GPUs)")
    parser.add_argument("--pack", type=Path, help="instead: write compact .npz copies of the label maps here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from trainer.synth import generate_synthetic_cache, pack_anatomy

    try:
        if args.pack is not None:
            for path in pack_anatomy(args.anatomy, args.pack):
                print(path)  # noqa: T201 - CLI output
            return 0
        if args.out is None:
            raise ValueError("give --out (a cache folder) or --pack")

        def report(done: int, total: int) -> None:
            print(f"\rsynth: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)  # noqa: T201

        stats = generate_synthetic_cache(args.anatomy, args.out, args.n, args.seed, workers=args.workers,
                                         device=args.device, progress=report)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - CLI output
        return 2
    print(json.dumps(stats))  # noqa: T201 - CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
