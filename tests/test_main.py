"""The command-line contract: --help and --version work, errors are one line on stderr with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, timeout=120,
        env=env if env is not None else os.environ.copy(),
    )


def test_help_lists_the_subcommands_and_the_clinical_warning() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("gui", "phantoms", "bench"):
        assert command in result.stdout
    assert "NOT FOR CLINICAL USE" in result.stdout


def test_version() -> None:
    from engine import __version__

    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"revseg {__version__}"


def test_gui_without_a_display_fails_cleanly() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}}
    result = run_cli(env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("revseg: error: no display")
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_bad_phantom_count_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run_cli("phantoms", "--out", str(tmp_path / "out"), "--n", "0")
    assert result.returncode == 2
    assert result.stderr.startswith("revseg: error:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_train_options_reach_the_trainer(tmp_path: Path) -> None:
    help_result = run_cli("train", "--help")
    assert help_result.returncode == 0 and "--data" in help_result.stdout
    result = run_cli("train", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "absent" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_unknown_options_of_other_commands_are_refused(tmp_path: Path) -> None:
    result = run_cli("phantoms", "--out", str(tmp_path), "--bogus")
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr


def test_cli_modality_options_match_the_engine() -> None:
    import main
    from engine.case import MODALITIES

    assert main.MODALITIES == MODALITIES
