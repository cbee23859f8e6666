"""Suite-wide fixtures: paths to the shared real cases, skipping CUDA tests where there is no GPU, a cache folder
of the run's own, and a watchdog that turns a hung test into a stack dump and a failure."""

from __future__ import annotations

import faulthandler
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

# The suite's many tiny random networks run eagerly: an ONNX export per network would cost seconds each.
# tests/engine/inference/test_onnx_cpu.py tests the ONNX Runtime path (the product's CPU default) against it;
# REVSEG_CPU_BACKEND=onnxruntime ./run-tests runs everything through it.
os.environ.setdefault("REVSEG_CPU_BACKEND", "eager")

# pytest-timeout (600 s, pyproject.toml) needs the interpreter: a test stuck in C code that holds the GIL
# never reaches it, and under xdist the whole run then waits until CI kills it, with no word of where.
# faulthandler's watchdog is a C thread: past HARD_TIMEOUT_S it writes every thread's stack to a file in
# REVSEG_TEST_HANG_DIR (./run-tests prints them) and ends the process, which xdist reports as a failed test.
HARD_TIMEOUT_S = float(os.environ.get("REVSEG_TEST_HARD_TIMEOUT", "900"))
HANG_DIR_ENV = "REVSEG_TEST_HANG_DIR"

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


def _hang_log() -> IO[str]:
    folder = Path(os.environ.get(HANG_DIR_ENV) or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    return open(folder / f"revseg-hang-{os.getpid()}.txt", "w")  # noqa: SIM115 - open for the process's life


_HANG_LOG: IO[str] | None = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    global _HANG_LOG
    if _HANG_LOG is None:
        _HANG_LOG = _hang_log()
    _HANG_LOG.seek(0)
    _HANG_LOG.truncate()
    _HANG_LOG.write(f"hung test: {item.nodeid} (over {HARD_TIMEOUT_S} s)\n")
    _HANG_LOG.flush()
    faulthandler.dump_traceback_later(HARD_TIMEOUT_S, exit=True, file=_HANG_LOG)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def pytest_unconfigure(config: pytest.Config) -> None:
    # A process that ends normally leaves no hang file; one the watchdog ended keeps it for ./run-tests to print.
    if _HANG_LOG is not None:
        _HANG_LOG.close()
        Path(_HANG_LOG.name).unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite never reads or fills the user's cache (ONNX exports): a run on a clean CI machine and one on
    a developer's machine take the same paths. pytest keeps the last three runs' temporary folders."""
    folder = tmp_path_factory.mktemp("revseg-cache")
    os.environ["REVSEG_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Folder of the shared real cases; tests using it skip (with the reason) only when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"shared real data not found at {REAL_DATA} (see ../shared/data/README.md)")
    return REAL_DATA
