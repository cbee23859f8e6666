"""The inference benchmark: CPU smoke run end to end (table last, JSON written), CUDA refusal without a GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.bench.inference import agreement, main
from tests.engine.inference.helpers import small_case


def test_smoke_run_writes_json_and_prints_table_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = small_case(tmp_path / "case")
    assert main(["--smoke", "--out", str(tmp_path / "out"), "--case", str(case)]) == 0
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "out" / "bench_inference.json").read_text())
    ours = [row for row in results["rows"] if row["impl"] == "revseg"]
    assert len(ours) == 1 and ours[0]["seconds"] > 0 and ours[0]["peak_bytes"] is None
    assert {"prepare", "infer", "export", "total"} <= set(results["end_to_end_s"])
    assert "| revseg | float32 |" in printed and printed.strip().splitlines()[-1].startswith("end to end")
    monai_rows = [row for row in results["rows"] if row["impl"] == "monai"]
    if monai_rows:
        assert results["agreement_fp32"]["label_dice"] >= 0.999
    else:
        assert "MONAI is not installed" in results["monai_note"]


def test_agreement_of_identical_logits_is_perfect() -> None:
    logits = torch.randn(3, 5, 6, 7)
    assert agreement(logits, logits.clone()) == {"max_abs_prob_diff": 0.0, "label_dice": 1.0}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_without_cuda_the_gpu_run_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", "unused"]) == 2
    assert "--smoke" in capsys.readouterr().err
