"""scripts/gpu/bench_reversible_step.py on the CPU (--smoke): every mode runs, the JSON holds the ratios."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu" / "bench_reversible_step.py"


def load_script():
    # Importable by name (the pre-warm workers are spawned processes that import the script's functions).
    if str(SCRIPT.parent) not in sys.path:
        sys.path.insert(0, str(SCRIPT.parent))
    return importlib.import_module("bench_reversible_step")


@pytest.mark.slow
def test_smoke_run_measures_every_mode_and_writes_ratios(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    script = load_script()
    out = tmp_path / "reversible_step.json"
    # No time limit: the script's default (270 s, for device calls) skipped modes on a loaded CI machine.
    assert script.main(["--smoke", "--crops", "16", "--rounds", "2", "--profile", "--max-seconds", "1e9",
                        "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert len(result["rows"]) == 2 * len(script.MODES)  # every mode, in each of the two rounds
    assert {row["round"] for row in result["rows"]} == {0, 1}
    assert all(row["status"] == "ok" and row["step_ms"] > 0 for row in result["rows"])
    assert all(0 < row["host_ms"] <= row["step_ms"] for row in result["rows"])
    best = {}  # the best round counts
    for row in result["rows"]:
        best[row["mode"]] = min(best.get(row["mode"], float("inf")), row["step_ms"])
    assert set(best) == set(script.MODES)
    summary = result["summary"]["16x16x16"]
    fastest = min(best[mode] for mode in script.PLAIN_MODES)
    assert summary["fastest_plain_ms"] == fastest
    assert summary["reversible-default_ratio"] == round(best["reversible-default"] / fastest, 3)
    assert summary["reversible-compiled_ratio"] == round(best["reversible-compiled"] / fastest, 3)
    # the first crop of every mode was profiled once (round 0)
    profiles = sorted(p.name for p in tmp_path.glob("profile_*.txt"))
    assert profiles == sorted(f"profile_{mode}_16x16x16.txt" for mode in script.MODES)
    assert "Self CPU" in (tmp_path / "profile_reversible-default_16x16x16.txt").read_text()
    assert result["meta"]["trainer_default_compile_blocks"] is True
    assert result["meta"]["trainer_default_cuda_graph"] is True
    # the two families of compiled modes (reversible, plain) were compiled side by side in spawned workers first
    assert sum("compiled in" in note for note in result["meta"]["prewarm"]) == 2
    assert "| 16x16x16 | reversible-default |" in capsys.readouterr().out


def test_modes_past_the_time_limit_are_reported_as_skipped(tmp_path: Path) -> None:
    script = load_script()
    out = tmp_path / "reversible_step.json"
    assert script.main(["--smoke", "--crops", "16", "--modes", "plain-eager", "--max-seconds", "0",
                        "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert rows and all(row["status"] == "skipped (time limit)" and row["step_ms"] is None for row in rows)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(SystemExit):
        load_script().parse_args(["--modes", "plain-eager,turbo", "--json", "x.json"])
