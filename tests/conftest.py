"""Suite-wide fixtures: paths to the shared real cases, and skipping CUDA tests where there is no GPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The suite's many tiny random networks run eagerly: an ONNX export per network would cost seconds each.
# tests/engine/inference/test_onnx_cpu.py tests the ONNX Runtime path (the product's CPU default) against it;
# REVSEG_CPU_BACKEND=onnxruntime ./run-tests runs everything through it.
os.environ.setdefault("REVSEG_CPU_BACKEND", "eager")

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = REPO_ROOT.parent / "shared" / "data" / "real"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run on the device machine)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of the shared real cases; tests using it skip (with the reason) only when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"shared real data not found at {REAL_DATA} (see ../shared/data/README.md)")
    return REAL_DATA
