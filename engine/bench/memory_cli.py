"""Command line of the training-memory benchmark (``python main.py bench memory [options]``): options, the run,
and the results written as JSON and markdown (``engine.bench.memory_report``). The measurements are
``engine.bench.memory``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from engine.bench import memory as memory_bench
from engine.bench.memory import ALL_SECTIONS, DEFAULT_CROPS, MODES, SMOKE_CONFIG, BenchOptions, run_sections
from engine.bench.memory_report import Case, write_results
from engine.model import UNetConfig, model_cost


def _parse_crop(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.lower().split("x")]
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"crop {text!r} must be N or DxHxW")
    return tuple(parts)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revseg bench memory", description=(memory_bench.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU run of a tiny model on tiny crops (for tests)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "bench-out"),
                        help="results folder (default $OUT, else ./bench-out)")
    parser.add_argument("--sections", default=",".join(ALL_SECTIONS), help=f"comma list of {','.join(ALL_SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="crops 128,160 and brats only, 1 warm-up + 3 timed steps")
    parser.add_argument("--modes", default=",".join(MODES), help="comma list of reversible,twin,checkpoint")
    parser.add_argument("--crops", default=DEFAULT_CROPS, help="comma list of N or DxHxW")
    parser.add_argument("--config-json", type=Path, help="UNetConfig JSON file (default: the default config)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--budget-gib", type=float, default=16.0)
    parser.add_argument("--cube-step", type=int, default=32, help="cube sizes searched in multiples of this")
    parser.add_argument("--max-cube", type=int, default=640)
    parser.add_argument("--max-blocks", type=int, default=32)
    parser.add_argument("--max-width", type=int, default=256)
    parser.add_argument("--search-crop", type=int, default=128, help="crop of the depth / width / blocks sections")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    parser.add_argument("--channels-last", action="store_true", help="channels-last-3d weights and activations")
    parser.add_argument("--compile-blocks", action="store_true", help="torch.compile every MBConv block")
    parser.add_argument("--max-seconds", type=float, default=0.0, help="skip cases after this many seconds (0: none)")
    parser.add_argument("--no-isolate", action="store_true", help="run search probes in this process (debugging)")
    return parser


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    sections = tuple(s for s in args.sections.split(",") if s)
    modes = tuple(m for m in args.modes.split(",") if m)
    if unknown := sorted(set(sections) - set(ALL_SECTIONS)) + sorted(set(modes) - set(MODES)):
        raise ValueError(f"unknown section(s) or mode(s) {unknown}")
    config = UNetConfig.from_dict(json.loads(args.config_json.read_text())) if args.config_json else UNetConfig()
    if args.channels_last:
        config = config.replace(channels_last=True)
    options = BenchOptions(
        device="cuda", sections=sections, modes=modes, crops=tuple(_parse_crop(c) for c in args.crops.split(",")),
        config=config, warmup=args.warmup, iters=args.iters, budget_gib=args.budget_gib, cube_step=args.cube_step,
        max_cube=args.max_cube, max_blocks=args.max_blocks, max_width=args.max_width, search_crop=args.search_crop,
        bf16=not args.fp32, compile_blocks=args.compile_blocks, max_seconds=args.max_seconds,
        isolate=not args.no_isolate,
    )
    if args.quick:
        options.sections = tuple(s for s in options.sections if s in ("crops", "brats")) or ("crops",)
        options.crops, options.warmup, options.iters = ((128,) * 3, (160,) * 3), 1, 3
    if args.smoke:
        options.device, options.config, options.bf16 = "cpu", SMOKE_CONFIG, False
        options.sections = tuple(s for s in options.sections if s in ("crops", "blocks")) or ("crops",)
        options.crops, options.search_crop, options.warmup, options.iters = ((16,) * 3, (20, 12, 16)), 12, 1, 2
    return options


def run(options: BenchOptions, out: Path) -> tuple[list[Case], str]:
    """Run the benchmark and write bench_memory.json / bench_memory.md under `out`; returns rows and report."""
    if options.device == "cuda":
        torch.backends.cudnn.benchmark = True
    threads = torch.get_num_threads()
    if options.device == "cpu":
        torch.set_num_threads(1)  # tiny smoke tensors: threads only add contention
    try:
        results = run_sections(options)
    finally:
        torch.set_num_threads(threads)
    meta = {
        "device": torch.cuda.get_device_name() if options.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "config": options.config.to_dict(),
        "parameters": model_cost(options.config).parameters,
        "gflops_128": model_cost(options.config).forward_gflops,
        "bf16": options.bf16,
        "budget_gib": options.budget_gib,
        "sections": list(options.sections),
        "elapsed_s": time.monotonic() - options.started,
    }
    return results, write_results(out, results, meta)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (``python main.py bench memory ...``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    if options.device == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("bench memory: CUDA is not available; use --smoke for the CPU variant\n")
        return 2
    _, report = run(options, args.out)
    sys.stderr.write(f"results written to {args.out}/bench_memory.json and bench_memory.md\n")
    sys.stdout.write(report)  # the markdown table comes last
    return 0


if __name__ == "__main__":
    sys.exit(main())
