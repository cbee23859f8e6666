"""segment_case / segment_dataset end to end on a small synthetic case with a tiny random-init network."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

import engine.segment
from engine.checkpoint import load_checkpoint
from engine.errors import OperationCancelled, OutputExistsError
from engine.inference.postprocess import PostprocessConfig
from engine.inference.predictor import PredictorConfig
from engine.segment import (
    BUNDLED_WEIGHTS,
    brain_box,
    load_segmenter,
    nib_label,
    segment_case,
)
from engine.segment_dataset import segment_dataset
from tests.engine.inference.helpers import small_case, tiny_checkpoint


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("weights") / "tiny.safetensors", demo=True)


def test_segment_case_writes_label_on_the_t1ce_grid(tmp_path: Path, weights: Path) -> None:
    case = small_case(tmp_path / "case")
    stages = []
    result = segment_case(case, None, tmp_path / "out" / "seg.nii.gz", weights=weights, device="cpu", tile=32,
                          progress=lambda s, d, t: stages.append(s))
    t1ce, seg = nib.load(str(case / "P7_t1ce.nii.gz")), nib.load(str(result.files["nifti"]))
    assert seg.shape == t1ce.shape and np.allclose(seg.affine, t1ce.affine, atol=1e-5)
    label = np.asarray(seg.dataobj)
    assert set(np.unique(label)) <= {0, 1, 2, 4}
    sidecar = json.loads((tmp_path / "out" / "seg.json").read_text())
    assert "NOT FOR CLINICAL USE" in sidecar["disclaimer"] and "NOT FOR CLINICAL USE" in result.summary()
    assert list(result.prepare_stages_s) == ["load", "register", "resample", "skull strip", "normalise"]
    assert "\nprepare: load " in result.summary()  # the prepare stage's parts, on a line of their own
    voxel_ml = float(np.prod(t1ce.header.get_zooms()[:3])) / 1000
    assert result.volumes_ml["WT"] == pytest.approx(np.count_nonzero(label) * voxel_ml, abs=1e-3)
    assert result.volumes_ml["ET"] == pytest.approx(np.count_nonzero(label == 4) * voxel_ml, abs=1e-3)
    assert sidecar["outputs"]["nifti"] == str(tmp_path / "out" / "seg.nii.gz")
    assert sidecar["inference"]["device"] == "cpu" and sidecar["model"]["weights_file"] == "tiny.safetensors"
    assert sidecar["inference"]["tiles"] >= 1 and sidecar["inference"]["input_shape"] == [40, 44, 36]
    assert {"load", "prepare", "infer", "postprocess", "export", "total"} <= set(result.timings_s)
    assert "infer" in stages and "resample" in stages
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["seg.json", "seg.nii.gz"]


@pytest.mark.parametrize("stop_at", ["resample", "infer"])
def test_cancelled_run_writes_nothing(tmp_path: Path, weights: Path, stop_at: str) -> None:
    case, seen = small_case(tmp_path / "case"), []
    with pytest.raises(OperationCancelled):
        segment_case(case, None, tmp_path / "out" / "seg.nii.gz", weights=weights, device="cpu", tile=16,
                     progress=lambda s, d, t: seen.append(s), cancel=lambda: stop_at in seen)
    assert not (tmp_path / "out").exists()  # no file, not even the output folder it created


def test_existing_output_is_kept_without_force(tmp_path: Path, weights: Path) -> None:
    case, out = small_case(tmp_path / "case"), tmp_path / "seg.nii.gz"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        segment_case(case, None, out, weights=weights, device="cpu")
    assert out.read_bytes() == b"keep me"
    segment_case(case, None, out, weights=weights, device="cpu", force=True)
    assert nib.load(str(out)).shape == (40, 44, 36)


def test_missing_bundled_weights_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.segment.BUNDLED_WEIGHTS", tmp_path / "missing" / BUNDLED_WEIGHTS.name)
    with pytest.raises(ValueError, match="no bundled weights exist yet.*--weights FILE"):
        segment_case(small_case(tmp_path / "case"), None, tmp_path / "seg.nii.gz", device="cpu")


def test_batch_mode_is_resumable_and_split_by_rank(tmp_path: Path, weights: Path) -> None:
    for name in ("A1", "B2", "C3"):
        small_case(tmp_path / "data" / name, case_id=name)
    out = tmp_path / "out"
    rank0 = segment_dataset(tmp_path / "data", out, weights=weights, device="cpu", rank=0, world_size=2)
    assert [p.name for p in rank0.written] == ["A1.nii.gz", "C3.nii.gz"] and not rank0.failed
    stamp = (out / "A1.nii.gz").stat().st_mtime_ns
    everything = segment_dataset(tmp_path / "data", out, weights=weights, device="cpu")
    assert [p.name for p in everything.written] == ["B2.nii.gz"]
    assert [p.name for p in everything.skipped] == ["A1.nii.gz", "C3.nii.gz"]
    assert (out / "A1.nii.gz").stat().st_mtime_ns == stamp


def test_batch_rank_comes_from_torchrun_environment(tmp_path: Path, weights: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("A1", "B2"):
        small_case(tmp_path / "data" / name, case_id=name)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    result = segment_dataset(tmp_path / "data", tmp_path / "out", weights=weights, device="cpu")
    assert [p.name for p in result.written] == ["B2.nii.gz"]


def test_dicom_seg_is_written_next_to_the_nifti(tmp_path: Path, weights: Path) -> None:
    import pydicom

    case = small_case(tmp_path / "case")
    result = segment_case(case, None, tmp_path / "out" / "seg.nii.gz", weights=weights, device="cpu",
                          dicom_seg=tmp_path / "out" / "seg.dcm")
    seg = pydicom.dcmread(result.files["dicom-seg"])
    assert seg.Modality == "SEG" and result.files["dicom-seg"] == tmp_path / "out" / "seg.dcm"
    assert result.files["t1ce-dicom"].is_dir()  # NIfTI input: the T1ce is written as a DICOM series for the SEG
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["seg.dcm", "seg.json", "seg.nii.gz",
                                                                     "seg_t1ce_dicom"]


def test_bundled_demo_weights_load_and_are_marked_demo() -> None:
    checkpoint = load_checkpoint(BUNDLED_WEIGHTS)  # verifies the SHA-256 of the weights
    card = (BUNDLED_WEIGHTS.parent / "MODEL_CARD.md").read_text()
    assert checkpoint.training["demo"] is True and "NOT FOR CLINICAL USE" in card
    assert checkpoint.sha256 in card and BUNDLED_WEIGHTS.stat().st_size <= 50 * 2**20


def _tumour_everywhere(segmenter: engine.segment.Segmenter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the network see tumour in every voxel it is shown: probability 0.5 of ET (so of TC and WT)."""
    original = segmenter.predictor.predict

    def predict(image, progress=None, cancel=None):  # noqa: ANN001, ANN202 - the wrapped signature
        logits = original(image, progress, cancel)  # keeps the predictor's records (device, tiles)
        if segmenter.checkpoint.config.head == "softmax":
            return torch.nn.functional.one_hot(torch.full(logits.shape[1:], 3), 4).permute(3, 0, 1, 2).float() * 10
        return torch.zeros_like(logits)  # sigmoid 0.5: tumour only under a threshold below 0.5

    monkeypatch.setattr(segmenter.predictor, "predict", predict)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.25, 1.25, 2.0)], ids=["exact", "resampled"])
def test_prediction_outside_the_brain_never_reaches_the_exported_label(
        tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch, spacing: tuple[float, float, float]) -> None:
    from tests.engine.synthetic_cases import LPS_AXES, grid_from, write_nifti_case
    from tests.engine.test_prepare import ROLES

    grid = grid_from((40, 44, 36) if spacing == (1.0, 1.0, 1.0) else (36, 40, 22), spacing, LPS_AXES)
    case = write_nifti_case(tmp_path / "case", {m: grid for m in ROLES}, {m: f"P8_{m}.nii.gz" for m in ROLES})
    segmenter = load_segmenter(weights, PredictorConfig(device="cpu", tile=32), PostprocessConfig(threshold=0.4))
    _tumour_everywhere(segmenter, monkeypatch)
    seen, infer = {}, engine.segment._infer_labels

    def spy(segmenter, prepared, *rest):  # noqa: ANN001, ANN202 - keeps the prepared case (and its brain mask)
        seen["prepared"] = prepared
        return infer(segmenter, prepared, *rest)

    monkeypatch.setattr(engine.segment, "_infer_labels", spy)
    result = segment_case(case, None, tmp_path / "seg.nii.gz", segmenter=segmenter)
    prepared = seen["prepared"]
    mask = prepared.brain_mask
    assert prepared.space.exact == (spacing == (1.0, 1.0, 1.0))
    assert (~mask[brain_box(mask)]).any()  # the network did predict tumour outside the brain (inside its box)
    native, native_mask = nib_label(result.files["nifti"]), prepared.to_native(mask.astype(np.uint8))
    assert (native == 4).any() and not native[native_mask == 0].any()
    assert np.count_nonzero(native) == np.count_nonzero(native_mask)  # the threshold 0.4 was used (0.5 finds none)
    sidecar = json.loads(result.files["json"].read_text())
    assert sidecar["postprocessing"]["threshold"] == 0.4 and sidecar["postprocessing"]["removed_components"] == 0


def test_sidecar_records_the_postprocessing(tmp_path: Path, weights: Path) -> None:
    config = PostprocessConfig(min_component_ml=0.25, min_et_component_ml=0.05)
    result = segment_case(small_case(tmp_path / "case"), None, tmp_path / "seg.nii.gz", weights=weights,
                          device="cpu", tile=32, postprocess_config=config)
    record = json.loads(result.files["json"].read_text())["postprocessing"]
    assert {k: record[k] for k in ("threshold", "min_et_ml", "min_component_ml", "min_et_component_ml")} == {
        "threshold": 0.5, "min_et_ml": 0.5, "min_component_ml": 0.25, "min_et_component_ml": 0.05}
    assert record["removed_components"] == result.removed_components
    assert record["et_components_relabelled"] == result.et_components_relabelled
    assert record["et_suppressed"] == result.et_suppressed
