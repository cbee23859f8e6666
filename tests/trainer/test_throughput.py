"""trainer.throughput on the CPU (smoke): both modes run full training steps and report their speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

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


def test_a_box_patch_is_timed_at_that_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--patch", "24,16,12", "--batch", "1", "--steps", "1", "--warmup", "0", "--config", str(TINY_CPU),
                 "--modes", "plain"]) == 0
    line = json.loads(next(x for x in capsys.readouterr().out.splitlines() if x.startswith("{")))
    assert line["patch"] == [24, 16, 12]


@pytest.mark.parametrize("text", ["4", "16,16", "a,b,c"])
def test_a_bad_patch_is_refused_with_its_text(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--patch", text])
    assert repr(text) in capsys.readouterr().err


def test_the_bf16_gradient_mode_is_refused_on_the_cpu() -> None:
    from trainer.distributed import DistributedContext, wrap_model

    with pytest.raises(ValueError, match="bf16"):
        wrap_model(torch.nn.Linear(2, 2), DistributedContext(), "bf16")
