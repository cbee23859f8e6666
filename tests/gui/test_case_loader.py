"""CaseLoader: a case folder read off the GUI thread; errors as one line; the latest request wins."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from gui.study.case_loader import CaseLoader, LoadedCase


def test_loads_a_case_with_its_default_windows(qtbot: QtBot, synthetic_case: Path) -> None:
    loader = CaseLoader()
    with qtbot.waitSignal(loader.loaded, timeout=10_000) as loaded:
        loader.load(synthetic_case)
    result = loaded.args[0]
    assert isinstance(result, LoadedCase) and set(result.window_levels) == set(result.case.volumes)
    assert not loader.busy


def test_a_bad_folder_fails_with_a_one_line_message(qtbot: QtBot, tmp_path: Path) -> None:
    loader = CaseLoader()
    with qtbot.waitSignal(loader.failed, timeout=10_000) as failed:
        loader.load(tmp_path / "missing")
    folder, message = failed.args
    assert folder == str(tmp_path / "missing") and message and "\n" not in message


def test_the_latest_of_two_quick_requests_wins(qtbot: QtBot, synthetic_case: Path, tmp_path: Path) -> None:
    loader = CaseLoader()
    loaded: list[LoadedCase] = []
    failed: list[tuple[str, str]] = []
    loader.loaded.connect(loaded.append)
    loader.failed.connect(lambda folder, message: failed.append((folder, message)))
    loader.load(tmp_path / "missing")  # superseded before it can report
    loader.load(synthetic_case)
    qtbot.waitUntil(lambda: len(loaded) == 1, timeout=10_000)
    loader.wait()
    qtbot.wait(50)
    assert failed == [] and len(loaded) == 1
