"""scripts/measure_patch_loader.py: times a worker's patches and says how many workers a GPU step needs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "measure_patch_loader.py"


def test_reports_patch_rate_and_workers_needed(sphere_case_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("measure_patch_loader", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--data", str(sphere_case_dir), "--config", "tiny-cpu", "--patches", "3",
                        "--step-ms", "10"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["patch_size"] == [32, 32, 32] and result["patches"] == 3
    assert result["patches_per_s_per_worker"] == pytest.approx(1 / result["mean_s"], rel=0.02)
    workers = result["workers_per_gpu_at_step_ms"]["10.0"]
    assert workers == pytest.approx(result["mean_s"] / 0.010, rel=0.02, abs=0.06)
