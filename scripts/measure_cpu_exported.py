"""Issue 19: is an exported graph faster than the eager network on this CPU? One 128^3 four-channel tile through
the bundled network: eager (channels-last 3D, inference mode, every core: the predictor's CPU path) against
ONNX Runtime (CPU execution provider, the product's session options, every core), alternated so that machine load
hits both alike. Prints the medians, the largest logit difference and the export time; ``--json`` writes them.

    .venv/bin/pip install onnxruntime onnx onnxscript      # not project dependencies: kept only if faster
    .venv/bin/python scripts/measure_cpu_exported.py [--weights W] [--tile 128] [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.checkpoint import load_model  # noqa: E402
from engine.inference.onnx_cpu import export_network, session_options  # noqa: E402
from engine.inference.predictor import use_all_cores  # noqa: E402
from engine.segment import BUNDLED_WEIGHTS  # noqa: E402


def eager_runner(network: torch.nn.Module, tile: torch.Tensor):  # noqa: ANN201 - a closure
    network = network.to(memory_format=torch.channels_last_3d)
    inputs = tile.contiguous(memory_format=torch.channels_last_3d)

    @torch.inference_mode()
    def run() -> np.ndarray:
        return network(inputs).float().numpy()
    return run


def onnx_runner(network: torch.nn.Module, tile: torch.Tensor, folder: Path):  # noqa: ANN201 - a closure
    import onnxruntime as ort

    started = time.perf_counter()
    path = export_network(network, tuple(tile.shape), folder / "export")  # the product's export
    export_s = time.perf_counter() - started
    session = ort.InferenceSession(str(path), session_options(torch.get_num_threads()),
                                   providers=["CPUExecutionProvider"])
    feed = {"image": tile.numpy()}
    return (lambda: session.run(["logits"], feed)[0]), export_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=BUNDLED_WEIGHTS)
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    threads = use_all_cores()
    network, _ = load_model(args.weights, "cpu")
    network = network.float().eval()
    tile = torch.from_numpy(np.random.default_rng(0).normal(size=(1, 4, *(args.tile,) * 3)).astype(np.float32))
    with tempfile.TemporaryDirectory() as folder:
        onnx_run, export_s = onnx_runner(network, tile, Path(folder))
        runners = {"eager channels-last": eager_runner(network, tile), "onnxruntime": onnx_run}
        outputs = {name: run() for name, run in runners.items()}  # warm-up (and the outputs compared)
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.runs):
            for name, run in runners.items():
                started = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - started)
    difference = float(np.abs(outputs["eager channels-last"] - outputs["onnxruntime"]).max())
    result = {"tile": args.tile, "threads": threads, "load_average": os.getloadavg(), "export_s": round(export_s, 1),
              "max_logit_difference": difference,
              "seconds": {name: [round(t, 3) for t in values] for name, values in times.items()},
              "median_s": {name: round(statistics.median(values), 3) for name, values in times.items()}}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(f"tile {args.tile}^3, {threads} threads, load {result['load_average']}, ONNX export {export_s:.1f} s, "
          f"max |logit difference| {difference:.2e}")
    for name, values in times.items():
        print(f"{name:22} median {statistics.median(values):6.3f} s  ({', '.join(f'{t:.3f}' for t in values)})")


if __name__ == "__main__":
    main()
