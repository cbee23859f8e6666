"""`main.py segment`: exit codes, written output, the summary, overwrite protection, batch mode, post-processing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import main
from tests.engine.inference.helpers import small_case, tiny_checkpoint


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("weights") / "tiny.safetensors", demo=True)


def test_segment_writes_output_and_prints_summary(tmp_path: Path, weights: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    case, out = small_case(tmp_path / "case"), tmp_path / "seg.nii.gz"
    code, stdout, _ = run_main(capsys, "segment", str(case), "-o", str(out), "--weights", str(weights),
                               "--device", "cpu", "--tile", "32", "--overlap", "0.25")
    assert code == 0 and nib.load(str(out)).shape == (40, 44, 36)
    assert "device cpu" in stdout and "volumes (mL): ET" in stdout and "lesions:" in stdout
    assert "NOT FOR CLINICAL USE" in stdout and "infer" in stdout
    before = out.read_bytes()
    code, _, err = run_main(capsys, "segment", str(case), "-o", str(out), "--weights", str(weights), "--device", "cpu")
    assert code == 2 and "already exists" in err and "--force" in err and out.read_bytes() == before
    code, _, _ = run_main(capsys, "segment", str(case), "-o", str(out), "--weights", str(weights), "--device", "cpu",
                          "--force")
    assert code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["MISSING"], "is not a folder"),
    (["CASE", "--weights", "nope.safetensors"], "weights file nope.safetensors does not exist"),
    (["CASE", "--overlap", "1.5"], "overlap must be in [0, 1)"),
    (["CASE", "--device", "tpu"], "device must be one of"),
    (["CASE", "--min-lesion-ml", "-0.5"], "min_component_ml (--min-lesion-ml) must be >= 0 mL"),
    (["CASE", "--min-et-component-ml", "-1"], "min_et_component_ml (--min-et-component-ml) must be >= 0 mL"),
    (["CASE", "--edge-oedema-mm", "-2"], "edge_oedema_mm (--edge-oedema-mm) must be >= 0 mm"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str],
                                         args: list[str], message: str) -> None:
    case = small_case(tmp_path / "case")
    args = [str(case) if a == "CASE" else str(tmp_path / a) if a == "MISSING" else a for a in args]
    if "--weights" not in args:
        args += ["--weights", str(weights)]
    code, _, err = run_main(capsys, "segment", *args, "-o", str(tmp_path / "out" / "seg.nii.gz"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("revseg: error:") and message in lines[0]
    assert not (tmp_path / "out").exists()


def test_batch_mode_skips_finished_cases(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("A1", "B2"):
        small_case(tmp_path / "data" / name, case_id=name)
    args = ["segment", "--batch", str(tmp_path / "data"), "-o", str(tmp_path / "out"), "--weights", str(weights),
            "--device", "cpu"]
    code, stdout, _ = run_main(capsys, *args)
    assert code == 0 and "written 2, skipped 0" in stdout
    code, stdout, _ = run_main(capsys, *args)
    assert code == 0 and "written 0, skipped 2" in stdout


def test_progress_line_on_a_terminal(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, stdout, err = run_main(capsys, "segment", str(small_case(tmp_path / "case")), "-o",
                                 str(tmp_path / "seg.nii.gz"), "--weights", str(weights), "--device", "cpu")
    assert code == 0 and "\rsegment: infer 1/1" in err and "\rsegment: done 1/1" in err
    assert "segment:" not in stdout


def test_compile_flag_reaches_the_predictor_and_is_harmless_on_the_cpu(
        tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.segment

    configs = []
    original = engine.segment.load_segmenter

    def recording(path, config=None, *rest):  # noqa: ANN001, ANN202 - a spy with the wrapped signature
        configs.append(config)
        return original(path, config, *rest)

    monkeypatch.setattr(engine.segment, "load_segmenter", recording)
    case, out = small_case(tmp_path / "case"), tmp_path / "seg.nii.gz"
    code, _, _ = run_main(capsys, "segment", str(case), "-o", str(out), "--weights", str(weights), "--device", "cpu",
                          "--tile", "32", "--compile")
    assert code == 0 and out.is_file() and [c.compile for c in configs] == [True]


@pytest.mark.parametrize("batch", [False, True], ids=["case", "batch"])
def test_postprocessing_options_reach_the_sidecar(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str],
                                                  batch: bool) -> None:
    if batch:
        small_case(tmp_path / "data" / "A1", case_id="A1")
        source, out, sidecar = tmp_path / "data", tmp_path / "out", tmp_path / "out" / "A1.json"
    else:
        source, out, sidecar = small_case(tmp_path / "case"), tmp_path / "seg.nii.gz", tmp_path / "seg.json"
    code, _, _ = run_main(capsys, "segment", str(source), "-o", str(out), "--weights", str(weights), "--device", "cpu",
                          "--tile", "32", "--min-lesion-ml", "0.3", "--min-et-component-ml", "0.02",
                          "--edge-oedema-mm", "5", *(["--batch"] if batch else []))
    record = json.loads(sidecar.read_text())["postprocessing"]
    assert code == 0 and record["min_component_ml"] == 0.3 and record["min_et_component_ml"] == 0.02
    assert record["edge_oedema_mm"] == 5.0
    assert record["min_et_ml"] == 0.5 and record["threshold"] == 0.5  # options left out keep the engine's defaults
    assert record["edge_oedema_fraction"] == 0.3
    assert {"removed_components", "et_components_relabelled", "et_suppressed", "edge_components_removed"} <= set(record)


def test_postprocessing_defaults_come_from_the_engine(tmp_path: Path, weights: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from engine.inference.postprocess import DEFAULT_MIN_COMPONENT_ML, DEFAULT_MIN_ET_COMPONENT_ML

    code, _, _ = run_main(capsys, "segment", str(small_case(tmp_path / "case")), "-o", str(tmp_path / "seg.nii.gz"),
                          "--weights", str(weights), "--device", "cpu", "--tile", "32")
    record = json.loads((tmp_path / "seg.json").read_text())["postprocessing"]
    assert code == 0 and record["min_component_ml"] == DEFAULT_MIN_COMPONENT_ML
    assert record["min_et_component_ml"] == DEFAULT_MIN_ET_COMPONENT_ML


def test_summary_counts_lesions_as_the_sidecar_table_does(tmp_path: Path, weights: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # no component removal: the tiny network's specks stay, and only the lesion table's 0.1 mL rule separates
    # lesions from small foci; the terminal must say what the sidecar (and the report, the GUI table) says
    code, stdout, _ = run_main(capsys, "segment", str(small_case(tmp_path / "case")), "-o", str(tmp_path / "seg.nii.gz"),
                               "--weights", str(weights), "--device", "cpu", "--tile", "32", "--min-lesion-ml", "0",
                               "--min-et-component-ml", "0")
    measurements = json.loads((tmp_path / "seg.json").read_text())["measurements"]
    line = next(line for line in stdout.splitlines() if line.startswith("lesions:"))
    assert code == 0 and int(line.split()[1]) == measurements["lesion_count"]


def test_a_speck_below_the_table_minimum_is_not_counted_as_a_lesion() -> None:
    from engine.inference.postprocess import count_lesions
    from engine.segment import _lesion_count

    label = np.zeros((40, 40, 40), np.uint8)
    label[5:15, 5:15, 5:15] = 2  # 1 mL at 1 mm
    label[30:32, 30:32, 30:32] = 4  # a 0.008 mL speck: a small focus
    label[20:25, 30:35, 30:35] = 1  # 0.125 mL: a lesion (>= 0.1 mL)
    assert count_lesions(label) == 3 and _lesion_count(label, (1.0, 1.0, 1.0)) == 2


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")
@pytest.mark.parametrize(("backend", "recorded"), [("eager", "torch"), ("onnxruntime", "onnxruntime")])
def test_cpu_backend_option_chooses_what_runs_the_network(tmp_path: Path, weights: Path, backend: str, recorded: str,
                                                          capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("REVSEG_CACHE", str(tmp_path / "cache"))
    case, out = small_case(tmp_path / "case"), tmp_path / "seg.nii.gz"
    code, _, _ = run_main(capsys, "segment", str(case), "-o", str(out), "--weights", str(weights), "--device", "cpu",
                          "--tile", "32", "--cpu-backend", backend)
    sidecar = json.loads(out.with_suffix("").with_suffix(".json").read_text())
    assert code == 0 and sidecar["inference"]["backend"] == recorded
    assert (tmp_path / "cache").exists() == (backend == "onnxruntime")
