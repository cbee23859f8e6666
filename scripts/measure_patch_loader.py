"""How many training patches one DataLoader worker makes per second (CPU), to size ``num_workers`` on a GPU machine.

With the whole step as one CUDA graph the GPU needs patches faster than before (run RS4: a 128^3 reversible step in
36 ms per patch on an H200), so a training run can wait for its loader. This times `PatchDataset.__getitem__`
(crop, foreground oversampling, the recipe's augmentation) in one process, as one worker runs it.

    python scripts/measure_patch_loader.py --data SYNTH_OR_CASES_DIR [--config synth-v2] [--patches 40]

Prints one JSON line: seconds per patch (median and mean), patches per second per worker, and the workers that
one GPU needs at a given step time (``--step-ms``, per patch).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.cli import config_path  # noqa: E402
from trainer.config import load_config  # noqa: E402
from trainer.data import build_training_cache, cached_cases  # noqa: E402
from trainer.sampling import PatchDataset, training_dataset  # noqa: E402


def dataset_for(data: Path, config_name: str, cache: Path) -> PatchDataset:
    cfg = load_config(config_path(config_name))
    build_training_cache([data], cache)
    return training_dataset(cfg, cached_cases(cache), cfg.patch_size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--config", default="synth-v2")
    parser.add_argument("--patches", type=int, default=40)
    parser.add_argument("--step-ms", type=float, default=36.0, help="GPU time per patch of the training step")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a DataLoader worker runs single-threaded
    with tempfile.TemporaryDirectory() as cache:
        dataset = dataset_for(args.data, args.config, Path(cache))
        dataset[0]  # first touch: memory-maps the case
        times = []
        for index in range(1, args.patches + 1):
            start = time.perf_counter()
            dataset[index]
            times.append(time.perf_counter() - start)
    mean = statistics.fmean(times)
    result = {"config": args.config, "patch_size": list(dataset.patch_size), "patches": args.patches,
              "median_s": round(statistics.median(times), 6), "mean_s": round(mean, 6),
              "patches_per_s_per_worker": round(1 / mean, 2),
              "workers_per_gpu_at_step_ms": {str(args.step_ms): round(mean / (args.step_ms / 1e3), 1)}}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
