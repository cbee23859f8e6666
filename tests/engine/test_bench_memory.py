"""The memory benchmark: CPU smoke run end to end, the search helper, OOM classification, CLI errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.bench.memory import Case, largest_fitting
from engine.bench.memory_cli import main
from engine.oom import is_out_of_memory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_run_writes_json_and_markdown(tmp_path: Path, capsys) -> None:
    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    report = (tmp_path / "bench_memory.md").read_text()
    assert printed.strip().endswith(report.strip().splitlines()[-1])  # the table is printed last
    rows = json.loads((tmp_path / "bench_memory.json").read_text())["results"]
    assert {row["mode"] for row in rows} == {"reversible", "twin", "checkpoint"}
    assert all(row["status"] == "ok" and row["step_ms"] > 0 and row["peak_bytes"] is None for row in rows)
    saved = {(r["section"], r["mode"], tuple(r["spatial"]), r["blocks_per_level"]): r["saved_bytes"] for r in rows}
    for crop in [(16, 16, 16), (20, 12, 16)]:
        assert saved[("crops", "reversible", crop, None)] < 0.5 * saved[("crops", "twin", crop, None)]
    # reversible activation memory does not grow with blocks per level; the twin's does
    reversible = [saved[("blocks", "reversible", (12, 12, 12), n)] for n in (1, 2, 4, 8)]
    twin = [saved[("blocks", "twin", (12, 12, 12), n)] for n in (1, 2, 4, 8)]
    assert len(set(reversible)) == 1
    assert twin == sorted(twin) and twin[-1] > 4 * twin[0]
    assert "| saved activations MiB |" in report


def test_binary_search_finds_the_largest_fitting_candidate() -> None:
    probed: list[int] = []

    def probe(size: int) -> Case:
        probed.append(size)
        return Case("budget", "reversible", (size,) * 3, 8, None, 0, status="ok" if size <= 200 else "OOM")

    best, cases = largest_fitting(list(range(64, 513, 32)), probe)
    assert best == 192
    assert len(probed) <= 5 and len(cases) == len(probed)
    assert largest_fitting([64, 96], lambda s: Case("b", "m", (s,) * 3, 8, None, 0, status="OOM"))[0] is None


def test_out_of_memory_errors_are_recognised() -> None:
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_without_cuda_the_full_run_refuses_and_bad_options_are_usage_errors(tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        assert main(["--out", str(tmp_path), "--sections", "crops"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["--smoke", "--sections", "crops,colours"])
    assert exit_info.value.code == 2


def test_module_imports_with_torch_only() -> None:
    code = (
        "import sys, engine.bench.memory, engine.checkpoint\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in {'nibabel', 'SimpleITK', 'PySide6', 'vtk'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.slow
def test_search_probe_runs_in_a_fresh_process_with_the_same_result() -> None:
    from engine.bench.memory import SMOKE_CONFIG, BenchOptions, measure_unet, probe_isolated

    options = BenchOptions(device="cpu", config=SMOKE_CONFIG, warmup=1, iters=1, bf16=False)
    isolated = probe_isolated("budget", "reversible", SMOKE_CONFIG, (16, 16, 16), options)
    local = measure_unet("budget", "reversible", SMOKE_CONFIG, (16, 16, 16), options)
    assert isolated.ok and local.ok
    assert isolated.saved_bytes == local.saved_bytes > 0
    assert isolated.parameters == local.parameters
