"""`main.py evaluate`: the table and JSON from existing predictions, the brats-evaluation cross-check, bad input
(exit 2, one line), and one run of the real segmenter on a tiny case."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from engine.metrics import region_scores
from tests.engine.test_evaluation import tumour, write_case, write_label
from tests.test_main_segment import run_main


def prediction_of(reference: np.ndarray) -> np.ndarray:
    """An imperfect prediction: a thicker ET slab (72 voxels over the reference's 36) and an 8-voxel ET blob
    outside the tumour."""
    prediction = np.where(reference == 3, 4, reference).astype(np.uint8)
    prediction[6:12, 6:12, 6:8] = 4
    prediction[16:18, 14:16, 0:2] = 4
    return prediction


@pytest.fixture()
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    """Three cases: BraTS 2020 with ET, BraTS 2023-style reference/ without ET, one without labels; and the
    predictions of the first two."""
    data, predictions = tmp_path / "data", tmp_path / "pred"
    no_et = tumour(3)
    no_et[no_et == 3] = 1
    write_case(data / "A", tumour())
    write_case(data / "B", brats2023=True, references={"winner": no_et})
    write_case(data / "C")
    write_label(predictions / "A.nii.gz", prediction_of(tumour()))
    write_label(predictions / "B.nii.gz", prediction_of(no_et))
    return data, predictions


def test_predictions_are_scored_into_table_and_json(tmp_path: Path, dataset: tuple[Path, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data, predictions = dataset
    out = tmp_path / "eval.json"
    code, stdout, stderr = run_main(capsys, "evaluate", "--data", str(data), "--predictions", str(predictions),
                                    "--out", str(out), "--device", "cpu")
    assert code == 0, stderr
    assert stderr.splitlines() == [f"evaluate: case {i}/2 {n} score" for i, n in ((1, "A"), (2, "B"))]
    rows = {line.split()[0]: line.split() for line in stdout.splitlines()[1:] if line and not line.startswith("note")}
    assert rows["A"][1] == "seg" and rows["B"][1:3] == ["winner", "n/a"] and rows["mean"][1:3] == ["2", "cases"]
    assert "note: ET Dice/HD95: mean over the 1 of 2 cases whose reference has ET (n/a for the others)" in stdout
    assert "note: skipped C: no reference label map" in stdout and f"JSON: {out}" in stdout

    record = json.loads(out.read_text())
    a, b = record["cases"]
    expected = region_scores(prediction_of(tumour()), tumour())
    assert a["dice"] == {r: pytest.approx(s.dice, abs=1e-12) for r, s in expected.items()}
    assert a["dice"]["ET"] == pytest.approx(2 * 36 / (72 + 8 + 36)) and a["reference"]["convention"] == "brats2020"
    assert a["hd95"] == {r: pytest.approx(s.hd95, abs=1e-12) for r, s in expected.items()}
    assert b["dice"]["ET"] is None and b["hd95"]["ET"] is None and b["reference"]["convention"] == "no ET"
    assert record["mean"]["dice"]["ET"] == pytest.approx(a["dice"]["ET"])  # only A has ET
    assert record["mean"]["cases_averaged"] == {"ET": 1, "TC": 2, "WT": 2}
    assert record["mean"]["dice"]["WT"] == pytest.approx((a["dice"]["WT"] + b["dice"]["WT"]) / 2)
    assert a["false_positives"] == {"wt_components": 1, "wt_ml": 0.008, "et_components": 1, "et_ml": 0.008,
                                    "largest_et_fp_ml": 0.008}
    assert a["volumes_ml"]["WT"]["reference"] == pytest.approx(0.8)  # 800 voxels of 1 mm^3
    assert record["skipped"] == [{"case": "C", "folder": str(data / "C"), "reason": "no reference label map"}]
    settings = record["settings"]
    assert settings["mode"] == "predictions" and settings["device"] == "cpu" and settings["date"]
    assert settings["weights"]["sha256"] is None and settings["reference"] is None


def test_brats_evaluation_numbers_sit_next_to_ours(tmp_path: Path, dataset: tuple[Path, Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("brats_evaluation")
    data, predictions = dataset
    out = tmp_path / "eval.json"
    code, stdout, stderr = run_main(capsys, "evaluate", "--data", str(data / "A"), "--predictions",
                                    str(predictions), "--out", str(out), "--brats-evaluation")
    assert code == 0, stderr
    assert "evaluate: case 1/1 A brats-evaluation" in stderr and "brats-evaluation" in stdout
    case = json.loads(out.read_text())["cases"][0]
    official = case["brats_evaluation"]
    assert official["error"] is None and official["dice_difference"] < 1e-9 and official["hd95_difference"] < 1e-6
    assert official["dice"] == {r: pytest.approx(v, abs=1e-9) for r, v in case["dice"].items()}
    assert json.loads(out.read_text())["settings"]["brats_evaluation"] == "0.0.10"


@pytest.mark.parametrize(("setup", "message"), [
    ("empty", "holds no case folders"),
    ("shape", "has shape (20, 18, 10) but the reference"),
    ("missing", "no prediction"),
    ("unlabelled", "none of the 1 case folder(s)"),
    ("ambiguous", "has several references (a, b); choose one with --reference NAME"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str,
                                         message: str) -> None:
    data, predictions = tmp_path / "data", tmp_path / "pred"
    data.mkdir()
    if setup in ("shape", "missing"):
        write_case(data / "A", tumour())
    if setup == "shape":
        write_label(predictions / "A.nii.gz", tumour()[:, :, :10])
    if setup == "unlabelled":
        write_case(data / "A")
    if setup == "ambiguous":
        write_case(data / "A", references={"a": tumour(), "b": tumour()})
    predictions.mkdir(exist_ok=True)
    code, stdout, stderr = run_main(capsys, "evaluate", "--data", str(data), "--predictions", str(predictions),
                                    "--out", str(tmp_path / "eval.json"))
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("revseg: error:") and message in lines[0]
    assert stdout == "" and not (tmp_path / "eval.json").exists()


def test_segments_with_the_real_pipeline_then_scores_the_exported_file(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from tests.engine.inference.helpers import small_case, tiny_checkpoint
    from tests.engine.synthetic_cases import tumour_labels
    from tests.engine.test_prepare import BRATS_LIKE

    weights = tiny_checkpoint(tmp_path / "tiny.safetensors", demo=True)
    case = small_case(tmp_path / "data" / "P7")
    reference = tumour_labels(BRATS_LIKE)
    write_label(case / "reference" / "manual.nii.gz", reference, BRATS_LIKE.affine)
    out = tmp_path / "run" / "eval.json"
    args = ["evaluate", "--data", str(case), "--weights", str(weights), "--device", "cpu", "--out", str(out)]
    code, stdout, stderr = run_main(capsys, *args)
    assert code == 0, stderr
    assert stderr.splitlines() == ["evaluate: case 1/1 P7 segment", "evaluate: case 1/1 P7 score"]
    prediction = tmp_path / "run" / "eval-predictions" / "P7.nii.gz"
    record = json.loads(out.read_text())
    label = np.asarray(nib.load(str(prediction)).dataobj)
    expected = region_scores(label, reference)
    assert record["cases"][0]["dice"]["WT"] == pytest.approx(expected["WT"].dice, abs=1e-12)
    provenance = record["cases"][0]["prediction"]
    assert provenance["path"] == str(prediction) and provenance["weights_file"] == "tiny.safetensors"
    assert "min_component_ml" in provenance["postprocessing"]  # the settings the exported file was made with
    settings = record["settings"]
    assert settings["mode"] == "segment" and settings["weights"]["path"] == str(weights)
    assert len(settings["weights"]["sha256"]) == 64 and settings["devices_used"] == ["cpu"]
    assert "NOT FOR CLINICAL USE" in stdout and "P7" in stdout
    code, _, stderr = run_main(capsys, *args[:-2], "--out", str(tmp_path / "again.json"),
                               "--save-predictions", str(prediction.parent))
    assert code == 2 and "already exists; re-score existing predictions with --predictions" in stderr
    # Re-scoring the same file gives the same numbers, and the weights come from the prediction's sidecar.
    code, _, stderr = run_main(capsys, "evaluate", "--data", str(case), "--predictions", str(prediction.parent),
                               "--out", str(tmp_path / "rescored.json"))
    rescored = json.loads((tmp_path / "rescored.json").read_text())
    assert code == 0 and rescored["cases"][0]["dice"] == record["cases"][0]["dice"]
    assert rescored["settings"]["weights"]["sha256"] == settings["weights"]["sha256"]
    assert rescored["cases"][0]["prediction"]["device"] == "cpu"


def test_tta_reaches_the_segmenter_and_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.engine.inference.helpers import small_case, tiny_checkpoint
    from tests.engine.synthetic_cases import tumour_labels
    from tests.engine.test_prepare import BRATS_LIKE

    weights = tiny_checkpoint(tmp_path / "tiny.safetensors", demo=True)
    case = small_case(tmp_path / "data" / "P8")
    write_label(case / "reference" / "manual.nii.gz", tumour_labels(BRATS_LIKE), BRATS_LIKE.affine)
    out = tmp_path / "eval.json"
    code, _, stderr = run_main(capsys, "evaluate", "--data", str(case), "--weights", str(weights), "--device", "cpu",
                               "--tta", "--out", str(out))
    assert code == 0, stderr
    record = json.loads(out.read_text())
    assert record["settings"]["tta"] is True
    sidecar = json.loads((tmp_path / "eval-predictions" / "P8.json").read_text())
    assert sidecar["inference"]["tta"] is True
