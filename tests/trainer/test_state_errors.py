"""`train --resume` with a damaged or foreign trainer_state.pt: one clear line, never "weights_only=False" (issue 15)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

import main
from trainer.state import STATE_VERSION, load_state


class Foreign:
    """A class that only a pickle (not a plain state) can carry."""


def write_state(path: Path, kind: str) -> Path:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "pickle":
        torch.save({"version": STATE_VERSION, "payload": Foreign()}, path)
    elif kind == "raw-pickle":
        path.write_bytes(pickle.dumps({"version": STATE_VERSION, "payload": Foreign()}))
    elif kind == "truncated":
        torch.save({"version": STATE_VERSION, "weights": torch.zeros(4096)}, path)
        path.write_bytes(path.read_bytes()[:700])
    elif kind == "not-a-dict":
        torch.save([1, 2, 3], path)
    return path


@pytest.mark.parametrize(("kind", "fragment"), [
    ("empty", "is empty"), ("pickle", "refuses to load"), ("raw-pickle", "refuses to load"),
    ("truncated", "truncated or corrupt"), ("not-a-dict", "not a RevSeg trainer state"),
])
def test_load_state_refuses_in_one_line(tmp_path: Path, kind: str, fragment: str) -> None:
    path = write_state(tmp_path / "trainer_state.pt", kind)
    with pytest.raises(ValueError, match=fragment) as caught:
        load_state(path)
    message = str(caught.value)
    assert "\n" not in message and "weights_only" not in message and "miniz" not in message


@pytest.mark.parametrize("kind", ["empty", "pickle", "truncated"])
def test_train_resume_through_the_cli(tmp_path: Path, tiny_phantom_dir: Path, kind: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    write_state(run / "trainer_state.pt", kind)
    code = main.main(["train", "--data", str(tiny_phantom_dir), "--out", str(run), "--resume", "epochs=1"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: --resume") and "weights_only" not in lines[0]
