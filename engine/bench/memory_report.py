"""Results of the memory benchmark: one measured case, the markdown tables and the files a run writes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

GIB = 1024**3

@dataclass
class Case:
    """One measured training configuration (status "ok", "OOM", "over budget", "skipped ..." or "error: ...")."""

    section: str
    mode: str
    spatial: tuple[int, int, int]
    base_width: int
    blocks_per_level: int | None
    parameters: int
    status: str = "ok"
    peak_bytes: int | None = None
    saved_bytes: int | None = None
    step_ms: float | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _gib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / GIB:.2f}"


def _twin_of(case: Case, results: list[Case]) -> Case | None:
    return next((c for c in results if c.mode == "twin" and c.ok and c.section == case.section
                 and c.spatial == case.spatial and c.base_width == case.base_width
                 and c.blocks_per_level == case.blocks_per_level), None)


def _ratio(a: float | None, b: float | None) -> str:
    return "" if a is None or not b else f"{a / b:.2f}"


def results_table(results: list[Case]) -> str:
    """One markdown table of every row; ratios are against the twin of the same section / size / model."""
    lines = [
        "| section | mode | crop | base width | blocks/level | params (M) | status | peak GiB | peak / twin "
        "| saved activations MiB | saved / twin | step ms | time / twin | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in results:
        twin = _twin_of(case, results)
        saved = "n/a" if case.saved_bytes is None else f"{case.saved_bytes / 2**20:.1f}"
        lines.append(
            f"| {case.section} | {case.mode} | {'x'.join(map(str, case.spatial))} | {case.base_width or ''} "
            f"| {case.blocks_per_level or 'default'} | {case.parameters / 1e6:.2f} | {case.status} "
            f"| {_gib(case.peak_bytes)} | {_ratio(case.peak_bytes, twin and twin.peak_bytes)} | {saved} "
            f"| {_ratio(case.saved_bytes, twin and twin.saved_bytes)} "
            f"| {'' if case.step_ms is None else f'{case.step_ms:.1f}'} "
            f"| {_ratio(case.step_ms, twin and twin.step_ms)} | {case.note} |"
        )
    return "\n".join(lines)


def _find(results: list[Case], section: str, mode: str, spatial: tuple[int, int, int] | None = None) -> Case | None:
    return next((c for c in results if c.section == section and c.mode == mode and c.ok
                 and (spatial is None or c.spatial == spatial)), None)


def target_rows(results: list[Case], parameters: int) -> list[tuple[str, str, str, str]]:
    """(target, measured, wanted, verdict) for the design targets that this run measured."""
    rows = [("parameters", f"{parameters / 1e6:.2f} M", ">= 10 M", "pass" if parameters >= 10_000_000 else "FAIL")]
    rev, twin = _find(results, "crops", "reversible", (128,) * 3), _find(results, "crops", "twin", (128,) * 3)
    if rev and twin and rev.peak_bytes and twin.peak_bytes:
        ratio = rev.peak_bytes / twin.peak_bytes
        rows.append(("peak 128^3 reversible / twin", f"{ratio:.3f}", "<= 0.35 (goal 0.25)", _verdict(ratio <= 0.35, ratio <= 0.25)))
        speed = rev.step_ms / twin.step_ms
        rows.append(("step time 128^3 reversible / twin", f"{speed:.2f}", "<= 1.5 (goal 1.35)", _verdict(speed <= 1.5, speed <= 1.35)))
    rev, twin = _find(results, "budget", "reversible"), _find(results, "budget", "twin")
    if rev:
        cube = rev.spatial[0]
        rows.append(("largest cube in budget (reversible)", f"{cube}^3", "> 224^3 (goal >= 288^3)", _verdict(cube > 224, cube >= 288)))
        if twin:
            volume = (cube / twin.spatial[0]) ** 3
            rows.append(("largest cube volume reversible / twin", f"{volume:.2f}", ">= 3 (goal 4)", _verdict(volume >= 3, volume >= 4)))
    brats = _find(results, "brats", "reversible")
    if brats and brats.peak_bytes:
        rows.append(("256x256x160 peak (reversible)", f"{brats.peak_bytes / GIB:.2f} GiB", "<= 8 GiB", _verdict(brats.peak_bytes <= 8 * GIB, True)))
    return rows


def _verdict(target: bool, goal: bool) -> str:
    return "goal" if target and goal else "pass" if target else "FAIL"


def markdown_report(results: list[Case], meta: dict) -> str:
    targets = target_rows(results, meta["parameters"])
    lines = [
        f"# RevSeg memory benchmark ({meta['device']}, torch {meta['torch']})",
        "",
        f"Model: {meta['parameters'] / 1e6:.2f} M parameters, {meta['gflops_128']:.1f} GFLOPs per 128^3 forward; "
        f"{'bf16 autocast' if meta['bf16'] else 'fp32'}, batch 1, AdamW; peak = max allocated after warm-up; "
        f"budget {meta['budget_gib']} GiB; elapsed {meta['elapsed_s']:.0f} s.",
        "",
        "| design target | measured | wanted | verdict |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in targets],
        "",
        results_table(results),
    ]
    return "\n".join(lines) + "\n"


def write_results(out: Path, results: list[Case], meta: dict) -> str:
    out.mkdir(parents=True, exist_ok=True)
    report = markdown_report(results, meta)
    payload = {"meta": meta, "results": [asdict(c) | {"ok": c.ok} for c in results]}
    (out / "bench_memory.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    (out / "bench_memory.md").write_text(report, encoding="utf-8")
    return report
