"""trainer.throughput on the CPU (smoke): both modes run full training steps and report their speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.throughput import main

TINY_CPU = Path(__file__).resolve().parents[2] / "trainer" / "configs" / "tiny-cpu.toml"


def test_throughput_reports_both_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--patch", "16", "--batch", "1", "--steps", "2", "--warmup", "1", "--config", str(TINY_CPU)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["mode"] for line in lines] == ["reversible", "plain"]
    for line in lines:
        assert line["seconds_per_step"] > 0 and line["patches_per_s"] == pytest.approx(1 / line["seconds_per_step"])
        assert line["processes"] == 1 and line["peak_gib_rank0"] is None


def test_single_process_reports_its_own_time_as_fastest_and_slowest_rank(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--patch", "16", "--batch", "1", "--steps", "1", "--warmup", "1", "--config", str(TINY_CPU),
                 "--modes", "plain", "--ddp", "independent"]) == 0
    line = json.loads(next(x for x in capsys.readouterr().out.splitlines() if x.startswith("{")))
    assert line["ddp"] == "independent" and line["cpu_seconds_per_step_rank0"] > 0
    assert line["fastest_rank_seconds_per_step"] == line["slowest_rank_seconds_per_step"] == line["seconds_per_step"]
