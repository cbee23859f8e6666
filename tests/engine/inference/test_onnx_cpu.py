"""The CPU forward through ONNX Runtime (engine.inference.onnx_cpu): the same logits as the eager network, exported
once per weights and tile shape into the cache, the eager network when the export fails, and the same labels
end to end. The rest of the suite runs the eager backend (tests/conftest.py sets REVSEG_CPU_BACKEND=eager)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.inference import onnx_cpu
from engine.inference.onnx_cpu import OnnxForward, resolve_cpu_backend
from engine.inference.predictor import Predictor, PredictorConfig
from engine.model import build_network
from engine.segment import load_segmenter, nib_label, segment_case
from tests.engine.inference.helpers import TINY, small_case, tiny_checkpoint

pytestmark = pytest.mark.skipif(not onnx_cpu.onnxruntime_available(), reason="onnxruntime / onnx not installed")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(onnx_cpu.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _network(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_network(TINY).eval()


def _volume() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(4, 40, 36, 28)).astype(np.float32)


def _predict(network: torch.nn.Module, backend: str) -> torch.Tensor:
    return Predictor(network, PredictorConfig(device="cpu", tile=32, cpu_backend=backend)).predict(_volume())


def test_onnxruntime_gives_the_eager_logits_and_exports_once_per_weights(cache: Path, monkeypatch) -> None:
    exports = []
    real_export = onnx_cpu.export_network
    monkeypatch.setattr(onnx_cpu, "export_network", lambda *a: exports.append(a[1]) or real_export(*a))
    network = _network()
    eager, exported = _predict(network, "eager"), _predict(network, "onnxruntime")
    assert exported.shape == eager.shape and torch.allclose(exported, eager, atol=1e-3)
    assert exports == [(1, 4, 32, 32, 28)]  # the tile, cut to the volume (28 deep)
    assert torch.equal(_predict(network, "onnxruntime"), exported)  # a new predictor loads the cached export
    assert len(exports) == 1 and len(list((cache / "onnx").iterdir())) == 1
    other = _network(seed=1)  # other weights: another export, other logits
    assert not torch.allclose(_predict(other, "onnxruntime"), exported, atol=1e-3) and len(exports) == 2


@pytest.mark.slow
def test_the_cache_keeps_the_most_recently_used_exports(cache: Path, monkeypatch) -> None:
    monkeypatch.setattr(onnx_cpu, "KEEP_EXPORTS", 2)
    first, second, third = _network(0), _network(1), _network(2)
    for network in (first, second):
        _predict(network, "onnxruntime")
    _predict(first, "onnxruntime")  # used again: now more recent than the second
    _predict(third, "onnxruntime")  # a third export: the least recently used one (the second's) goes
    kept = {p.name.split("-")[0] for p in (cache / "onnx").iterdir()}
    assert kept == {onnx_cpu.network_fingerprint(n)[:32] for n in (first, third)}


def test_a_failed_export_falls_back_to_the_eager_network(cache: Path, monkeypatch, caplog) -> None:
    def broken(*_: object) -> Path:
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(onnx_cpu, "export_network", broken)
    network = _network()
    with caplog.at_level(logging.WARNING):
        logits = _predict(network, "onnxruntime")
    assert torch.allclose(logits, _predict(network, "eager"), atol=1e-5)
    assert caplog.text.count("using the eager forward") == 1  # said once, not per tile
    assert not (cache / "onnx").exists() or not any((cache / "onnx").iterdir())


def test_a_first_run_reports_the_export_before_the_tiles(cache: Path) -> None:
    stages: list[tuple[str, int, int]] = []
    config = PredictorConfig(device="cpu", tile=32, cpu_backend="onnxruntime")
    Predictor(_network(), config).predict(_volume(), progress=lambda *step: stages.append(step))
    assert stages[:3] == [(onnx_cpu.ENGINE_STAGE, 0, 1), (onnx_cpu.ENGINE_STAGE, 1, 1), ("infer", 0, 4)]
    stages.clear()
    Predictor(_network(), config).predict(_volume(), progress=lambda *step: stages.append(step))
    assert stages[0] == ("infer", 0, 4) and all(stage == "infer" for stage, _, _ in stages)  # cached: no export


def test_forward_is_dropped_after_each_prediction(cache: Path) -> None:
    predictor = Predictor(_network(), PredictorConfig(device="cpu", tile=32, cpu_backend="onnxruntime"))
    predictor.predict(_volume())
    assert predictor._onnx is None  # the session (and its memory arena) ends with the prediction


def test_backend_choice_and_its_environment_override(monkeypatch) -> None:
    monkeypatch.delenv(onnx_cpu.BACKEND_ENV, raising=False)
    assert resolve_cpu_backend("auto") == "onnxruntime" and resolve_cpu_backend("eager") == "eager"
    monkeypatch.setenv(onnx_cpu.BACKEND_ENV, "eager")
    assert resolve_cpu_backend("auto") == "eager" and resolve_cpu_backend("onnxruntime") == "onnxruntime"
    monkeypatch.setenv(onnx_cpu.BACKEND_ENV, "tensorrt")
    with pytest.raises(ValueError, match="REVSEG_CPU_BACKEND"):
        resolve_cpu_backend("auto")
    with pytest.raises(ValueError, match="cpu_backend"):
        PredictorConfig(cpu_backend="openvino")


def test_segment_case_labels_are_the_eager_labels(cache: Path, tmp_path: Path) -> None:
    weights = tiny_checkpoint(tmp_path / "tiny.safetensors")
    case = small_case(tmp_path / "case")
    labels = {}
    for backend in ("eager", "onnxruntime"):
        segmenter = load_segmenter(weights, PredictorConfig(device="cpu", tile=32, cpu_backend=backend))
        result = segment_case(case, None, tmp_path / backend / "seg.nii.gz", segmenter=segmenter)
        labels[backend] = nib_label(result.files["nifti"])
        sidecar = json.loads(result.files["json"].read_text())
        assert sidecar["inference"]["backend"] == {"eager": "torch", "onnxruntime": "onnxruntime"}[backend]
    assert labels["eager"].any() and np.mean(labels["eager"] == labels["onnxruntime"]) > 0.999


def test_onnx_forward_matches_the_network_on_a_batch(cache: Path) -> None:
    network = _network()
    forward = OnnxForward(network, threads=1)
    batch = torch.randn(1, 4, 32, 32, 32)
    with torch.inference_mode():
        expected, got = network(batch), forward(batch)
    assert got.shape == expected.shape and got.dtype == torch.float32 and torch.allclose(got, expected, atol=1e-3)
    assert forward.failed is None


def test_tiles_side_by_side_give_the_one_at_a_time_logits_from_one_export(cache: Path) -> None:
    network = _network()
    batch = torch.randn(3, 4, 32, 32, 32)  # three tiles on two workers
    side_by_side = OnnxForward(network, threads=2, workers=2)
    with torch.inference_mode():
        expected = network(batch)
        got = side_by_side(batch)
        lone = side_by_side(batch[:1])
        one_at_a_time = OnnxForward(network, threads=2, workers=1)(batch)
    assert side_by_side.failed is None and torch.allclose(got, expected, atol=1e-3)
    assert torch.allclose(got, one_at_a_time, atol=1e-5) and torch.allclose(lone, got[:1], atol=1e-5)
    assert len(list((cache / "onnx").iterdir())) == 1  # one graph, exported for one tile
    assert sorted(threads for _, threads in side_by_side._sessions) == [1, 2]  # side by side on 1 thread; alone on 2
    assert OnnxForward(network, threads=1, workers=2).workers == 1  # no more workers than threads


def test_cpu_batch_defaults_to_the_side_by_side_tiles(monkeypatch) -> None:
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(onnx_cpu, "available_memory_bytes", lambda: 64 * 2**30)
    assert onnx_cpu.tile_workers() == 2 and onnx_cpu.tile_workers(1) == 1 and onnx_cpu.tile_workers(16) == 2
    default = Predictor(_network(), PredictorConfig(device="cpu", cpu_backend="onnxruntime")).first_attempt()
    eager = Predictor(_network(), PredictorConfig(device="cpu", cpu_backend="eager")).first_attempt()
    pinned = Predictor(_network(), PredictorConfig(device="cpu", cpu_backend="onnxruntime", batch_size=1))
    assert (default.batch, eager.batch, pinned.first_attempt().batch) == (2, 1, 1)


def test_tiles_run_one_at_a_time_when_memory_is_short(monkeypatch) -> None:
    assert 2**20 < onnx_cpu.available_memory_bytes() < 2**50  # read from /proc/meminfo on this (Linux) machine
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    second_tile = 128**3 * onnx_cpu.SIDE_BY_SIDE_BYTES_PER_TILE_VOXEL
    monkeypatch.setattr(onnx_cpu, "available_memory_bytes", lambda: second_tile - 1)
    assert onnx_cpu.tile_workers(tile_voxels=128**3) == 1 and onnx_cpu.tile_workers(tile_voxels=64**3) == 2
    assert Predictor(_network(), PredictorConfig(device="cpu", cpu_backend="onnxruntime")).first_attempt().batch == 1
    monkeypatch.setattr(onnx_cpu, "available_memory_bytes", lambda: None)  # unknown (not Linux): as many as cores
    assert onnx_cpu.tile_workers(tile_voxels=128**3) == 2
