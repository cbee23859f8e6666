"""Inference benchmark: our sliding-window predictor against MONAI's ``sliding_window_inference``.

One 240x240x155 volume (4 channels, random values: the network's cost does not depend on them) at the
default settings (128^3 tiles, overlap 0.5, Gaussian weights, 4 tiles a batch, bf16 autocast on CUDA), with
the default network (random init). Reports the network time of both, their agreement (fp32: max abs
probability difference and label Dice), peak GPU memory, and with ``--case`` the end-to-end time of
``segment_case`` (load, prepare, infer, post-process, write). ``--smoke`` runs a tiny network on a small volume
on the CPU (for the test suite). MONAI is needed only here; without it its rows are skipped with a note.

Run: ``python main.py bench inference [--smoke] [--case DIR] [--out DIR]``; the table is printed last.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from engine.inference.graphs import GraphedForward
from engine.inference.predictor import Predictor, PredictorConfig, autocast_dtype, resolve_device
from engine.metrics import dice
from engine.model import UNetConfig, build_network
from engine.model.depthwise import DepthwiseConv3d
from engine.model.fused_norm import Switch as FusedNorm

SMOKE_MODEL = UNetConfig(base_width=8, width_multipliers=(1, 2), encoder_blocks=(1, 1), decoder_blocks=(1,),
                         expansion=2, norm_groups=4, head_width=8)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revseg bench inference", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny network, small volume, CPU")
    parser.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    parser.add_argument("--shape", type=int, nargs=3, default=None, help="volume shape (default 240 240 155)")
    parser.add_argument("--tile", type=int, default=None, help="tile edge (default 128; 32 with --smoke)")
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=None, help="tiles per forward (default 4; 2 with --smoke)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs a round (default 5; 1 with --smoke)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds of all implementations (default 3; 1 with --smoke)")
    parser.add_argument("--case", type=Path, default=None, help="case folder for the end-to-end time")
    parser.add_argument("--compile", action="store_true", help="also time the predictor with torch.compile (CUDA)")
    parser.add_argument("--variants", action="store_true",
                        help="also time one tile batch eager / channels-last / torch.compile and list the top CUDA ops")
    parser.add_argument("--out", type=Path, default=Path("bench_results"), help="folder for bench_inference.json")
    return parser


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(run: Callable[[], torch.Tensor], device: torch.device, repeats: int,
          warmups: int = 2) -> tuple[torch.Tensor, float, int | None]:
    """Median seconds of ``repeats`` runs after ``warmups`` untimed ones, the last result, and peak GPU bytes.

    The peak is PyTorch's allocated peak over the warm-ups and the timed runs (the caching allocator emptied
    first), so a CUDA graph's capture, which allocates the memory its replays reuse, is in it.
    """
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    result = run()
    for _ in range(warmups - 1):
        result = run()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return result, statistics.median(times), peak


def interleaved(runners: dict[str, Callable[[], torch.Tensor]], device: torch.device, repeats: int, rounds: int,
                after_each: Callable[[], None] = lambda: None) -> dict[str, dict[str, object]]:
    """Time every runner ``rounds`` times, round-robin, so a drift of the card's speed hits all of them alike.

    Returns per runner the median of its rounds' medians, each round's median and the largest peak.
    """
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    peaks: dict[str, int | None] = dict.fromkeys(runners)
    for _ in range(rounds):
        for name, run_once in runners.items():
            _, median, peak = timed(run_once, device, repeats)
            seconds[name].append(median)
            peaks[name] = peak if peaks[name] is None else max(peaks[name] or 0, peak or 0)
            after_each()
    return {name: {"seconds": statistics.median(values), "rounds_s": values, "peak_bytes": peaks[name]}
            for name, values in seconds.items()}


def monai_runner(network: torch.nn.Module, image: torch.Tensor, tile: int, overlap: float, batch: int,
                 amp: torch.dtype | None, device: torch.device,
                 on_device: bool = False) -> Callable[[], torch.Tensor] | None:
    """MONAI's sliding window with the same tile, overlap, Gaussian weights and batch; None without MONAI.

    Its logits come back as ours do: float32, on the host, or with ``on_device`` where MONAI left them.
    """
    try:
        from monai.inferers import sliding_window_inference
    except ImportError:
        return None
    image = image[None].to(device)

    @torch.inference_mode()
    def run() -> torch.Tensor:
        with torch.autocast(device_type=device.type, dtype=amp, enabled=amp is not None):
            logits = sliding_window_inference(image, (tile,) * 3, batch, network, overlap=overlap, mode="gaussian",
                                              sigma_scale=0.125, padding_mode="constant")
        return logits[0].float() if on_device else logits[0].float().cpu()
    return run


def monai_available() -> bool:
    try:
        import monai.inferers  # noqa: F401
    except ImportError:
        return False
    return True


def predictor_call(predictor: Predictor, image: torch.Tensor, on_device: bool = False) -> Callable[[], torch.Tensor]:
    return lambda: predictor.predict(image, on_device=on_device)


def agreement(ours: torch.Tensor, theirs: torch.Tensor) -> dict[str, float]:
    """Max abs sigmoid-probability difference and mean Dice of the thresholded regions."""
    p, q = torch.sigmoid(ours).numpy(), torch.sigmoid(theirs).numpy()
    dices = [dice(p[c] > 0.5, q[c] > 0.5) for c in range(p.shape[0])]
    return {"max_abs_prob_diff": float(np.abs(p - q).max()), "label_dice": float(np.mean(dices))}


def end_to_end(case: Path, network_config: UNetConfig, device: str, tile: int, overlap: float) -> dict[str, float]:
    """``segment_case`` timings on a case with random-init default weights (written to a temporary file)."""
    from engine.checkpoint import save_checkpoint
    from engine.segment import segment_case

    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "random.safetensors"
        save_checkpoint(weights, build_network(network_config), network_config, training={"demo": True})
        result = segment_case(case, None, Path(folder) / "seg.nii.gz", weights=weights, device=device, tile=tile,
                              overlap=overlap)
    return result.timings_s


def forward_variants(network: torch.nn.Module, device: torch.device, amp: torch.dtype | None, tile: int,
                     batch: int, repeats: int = 10) -> dict[str, object]:
    """Milliseconds per forward of one tile batch: eager, CUDA graph, channels-last-3d, torch.compile; top CUDA ops.

    This is where the depthwise 3x3x3 convolutions' share of the network time shows (cuDNN is slow at them).
    """
    x = torch.randn(batch, 4, tile, tile, tile, device=device)

    def time_forward(model: torch.nn.Module, inputs: torch.Tensor) -> float:
        with torch.inference_mode(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            for _ in range(3):
                model(inputs)
            _sync(device)
            start = time.perf_counter()
            for _ in range(repeats):
                model(inputs)
            _sync(device)
        return 1000 * (time.perf_counter() - start) / repeats

    out: dict[str, object] = {"eager_ms": time_forward(network, x), "top_ops": top_cuda_ops(network, x, amp)}
    out["cuda_graph_ms"] = time_forward(GraphedForward(network), x)  # type: ignore[arg-type]
    channels_last = copy.deepcopy(network).to(memory_format=torch.channels_last_3d)
    out["channels_last_ms"] = time_forward(channels_last, x.contiguous(memory_format=torch.channels_last_3d))
    try:
        out["compiled_ms"] = time_forward(torch.compile(copy.deepcopy(network)), x)
    except Exception as error:  # noqa: BLE001 - a compiler failure is a result to report, not a crash
        out["compiled_ms"] = None
        out["compile_error"] = f"{type(error).__name__}: {str(error)[:300]}"
    return out


def top_cuda_ops(network: torch.nn.Module, x: torch.Tensor, amp: torch.dtype | None, top: int = 8) -> list[list]:
    """The ``top`` operators by self CUDA time over one forward: [name, ms, share of the total]."""
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
        network(x)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            network(x)
            _sync(x.device)
    events = [(e.key, e.self_device_time_total / 1000) for e in prof.key_averages()]
    total = sum(ms for _, ms in events) or 1.0
    return [[name, round(ms, 2), round(ms / total, 3)] for name, ms in sorted(events, key=lambda e: -e[1])[:top]]


def amp_runners(network: torch.nn.Module, config: PredictorConfig, image: torch.Tensor, on_device: torch.Tensor,
                amp: torch.dtype, with_compile: bool) -> tuple[dict[str, Callable[[], torch.Tensor]], list[Predictor]]:
    """The timed implementations under autocast: ours at defaults and its variants, then MONAI's if installed."""
    device = on_device.device
    default = Predictor(network, config)
    eager = Predictor(network, replace(config, cuda_graphs=False))
    predictors = [default, eager]
    runners = {"revseg": predictor_call(default, on_device), "revseg, volume on host": predictor_call(default, image)}
    if device.type == "cuda":
        runners["revseg, logits left on the GPU"] = predictor_call(default, on_device, on_device=True)
        runners["revseg, no CUDA graphs"] = predictor_call(eager, on_device)
        pytorch_kernels = Predictor(network, config)
        predictors.append(pytorch_kernels)
        runners["revseg, PyTorch's kernels (no Triton)"] = without_triton(predictor_call(pytorch_kernels, on_device))
        if with_compile:
            compiled = Predictor(network, replace(config, compile=True))
            predictors.append(compiled)
            runners["revseg, torch.compile"] = predictor_call(compiled, on_device)
    monai = monai_runner(network, image, config.tile or 128, config.overlap, config.batch_size or 1, amp, device)
    if monai is not None:
        runners["monai"] = monai
        if device.type == "cuda":
            runners["monai, logits left on the GPU"] = monai_runner(  # type: ignore[assignment]
                network, image, config.tile or 128, config.overlap, config.batch_size or 1, amp, device, on_device=True)
    return runners, predictors


def without_triton(run_once: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """``run_once`` with PyTorch's depthwise convolution and group norm instead of our Triton kernels."""
    def run() -> torch.Tensor:
        DepthwiseConv3d.use_triton, FusedNorm.enabled = False, False
        try:
            return run_once()
        finally:
            DepthwiseConv3d.use_triton, FusedNorm.enabled = True, True
    return run


def run(args: argparse.Namespace) -> dict[str, object]:
    """Time ours and MONAI's (AMP, interleaved rounds), check agreement (fp32), optionally time a case end to end."""
    smoke = args.smoke
    device = resolve_device(args.device or ("cpu" if smoke else "cuda"))
    shape = tuple(args.shape or ((40, 44, 36) if smoke else (240, 240, 155)))
    tile, batch = args.tile or (32 if smoke else 128), args.batch or (2 if smoke else 4)
    repeats, rounds = args.repeats or (1 if smoke else 5), args.rounds or (1 if smoke else 3)
    model_config = SMOKE_MODEL if smoke else UNetConfig()
    torch.manual_seed(0)
    network = build_network(model_config).eval().to(device)
    image = torch.randn((model_config.in_channels, *shape))
    amp = autocast_dtype(device, True)
    results: dict[str, object] = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                                  "shape": list(shape), "tile": tile, "overlap": args.overlap, "batch": batch,
                                  "rounds": rounds, "amp": str(amp).replace("torch.", "") if amp else "float32",
                                  "rows": []}
    rows: list[dict[str, object]] = results["rows"]  # type: ignore[assignment]
    on_device = image.to(device)  # both implementations get the volume on the device; "host" adds the copy
    config = PredictorConfig(tile=tile, overlap=args.overlap, batch_size=batch, device=str(device))
    if amp is not None:
        runners, predictors = amp_runners(network, config, image, on_device, amp, args.compile)
        # Each predictor drops its graphs after its turn, so every round captures afresh and no pool is held
        # while the others run.
        timings = interleaved(runners, device, repeats, rounds, after_each=lambda: [p.release() for p in predictors])
        rows.extend({"impl": name, "precision": results["amp"], **timing} for name, timing in timings.items())
    if not monai_available():
        results["monai_note"] = "MONAI is not installed: its rows are skipped (pip install monai for the benchmark)"
    fp32_rows, agree = float32_runs(network, replace(config, amp=False), image, on_device)
    rows.extend(fp32_rows)
    if agree is not None:
        results["agreement_fp32"] = agree
    if args.variants and device.type == "cuda":
        results["variants"] = forward_variants(network, device, amp, tile, batch)
    if args.case is not None:
        results["end_to_end_s"] = end_to_end(args.case, model_config, str(device), tile, args.overlap)
    return results


def float32_runs(network: torch.nn.Module, config: PredictorConfig, image: torch.Tensor,
                 on_device: torch.Tensor) -> tuple[list[dict[str, object]], dict[str, float] | None]:
    """Ours and MONAI's once in float32 (on the CPU, the only timed rows), and their agreement (None without MONAI)."""
    device = on_device.device
    ours, seconds, peak = timed(predictor_call(Predictor(network, config), on_device), device, 1)
    rows: list[dict[str, object]] = [{"impl": "revseg", "precision": "float32", "seconds": seconds,
                                      "peak_bytes": peak}]
    monai = monai_runner(network, image, config.tile or 128, config.overlap, config.batch_size or 1, None, device)
    if monai is None:
        return rows, None
    theirs, seconds, peak = timed(monai, device, 1)
    rows.append({"impl": "monai", "precision": "float32", "seconds": seconds, "peak_bytes": peak})
    return rows, agreement(ours, theirs)


def table(results: dict[str, object]) -> str:
    """Markdown table of the runs: network time (median of the rounds' medians) and the speed-up over MONAI's
    row with the logits in the same place (host or GPU)."""
    rows: list[dict[str, object]] = results["rows"]  # type: ignore[assignment]
    monai = {(row["precision"], "on the GPU" in row["impl"]): row["seconds"] for row in rows
             if str(row["impl"]).startswith("monai")}
    lines = [f"Inference benchmark on {results['device']}: volume {results['shape']}, tile {results['tile']}, "
             f"overlap {results['overlap']}, batch {results['batch']}, {results.get('rounds', 1)} interleaved rounds",
             "", "| implementation | precision | network time (s) | rounds (s) | vs MONAI | peak GPU memory (GiB) |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        peak = "-" if row["peak_bytes"] is None else f"{row['peak_bytes'] / 2**30:.2f}"
        per_round = " ".join(f"{t:.3f}" for t in row.get("rounds_s", [row["seconds"]]))
        theirs = monai.get((row["precision"], "on the GPU" in str(row["impl"])))
        speedup = "-" if theirs is None or str(row["impl"]).startswith("monai") else f"{theirs / row['seconds']:.2f}x"
        lines.append(f"| {row['impl']} | {row['precision']} | {row['seconds']:.3f} | {per_round} | {speedup} | {peak} |")
    if "agreement_fp32" in results:
        agree = results["agreement_fp32"]
        lines.append(f"\nagreement (fp32): max |p - p_monai| = {agree['max_abs_prob_diff']:.2e}, "  # type: ignore[index]
                     f"label Dice {agree['label_dice']:.5f}")  # type: ignore[index]
    if "monai_note" in results:
        lines.append(f"\n{results['monai_note']}")
    if "variants" in results:
        variants = results["variants"]
        lines.append("\none tile batch forward (ms): " + ", ".join(
            f"{k[:-3]} {v:.1f}" for k, v in variants.items() if k.endswith("_ms") and v is not None))  # type: ignore[union-attr]
        lines.append("top CUDA ops: " + "; ".join(f"{n[:60]} {ms} ms ({share:.0%})" for n, ms, share in variants["top_ops"]))  # type: ignore[index]
    if "end_to_end_s" in results:
        lines.append("\nend to end (s): " + ", ".join(f"{k} {v:.2f}" for k, v in results["end_to_end_s"].items()))  # type: ignore[union-attr]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point (``python main.py bench inference ...``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.overlap < 1:
        parser.error(f"--overlap must be in [0, 1), got {args.overlap}")
    if not args.smoke and (args.device or "cuda").startswith("cuda") and not torch.cuda.is_available():
        sys.stderr.write("bench inference: CUDA is not available; use --smoke (or --device cpu) for a CPU run\n")
        return 2
    results = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_inference.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    sys.stderr.write(f"results written to {args.out}/bench_inference.json\n")
    sys.stdout.write(table(results))  # the table comes last
    return 0


if __name__ == "__main__":
    sys.exit(main())
