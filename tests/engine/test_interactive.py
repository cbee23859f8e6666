"""engine.interactive: a study onto the viewer grid, segmentation on that grid, export with read-back self-check."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from engine.case import load_case_folder
from engine.errors import OperationCancelled
from engine.geometry import Grid
from engine.inference.predictor import PredictorConfig
from engine.interactive import (
    STAGES,
    canonical_grid,
    load_study,
    normalised_entropy,
    segment_for_viewer,
    viewer_stage,
)
from engine.segment import load_segmenter
from engine.viewer_export import export_for_viewer
from tests.engine.inference.helpers import small_case, tiny_checkpoint
from tests.engine.synthetic_cases import write_dicom_study
from tests.engine.test_prepare import BRATS_LIKE


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory: pytest.TempPathFactory):
    weights = tiny_checkpoint(tmp_path_factory.mktemp("weights") / "tiny.safetensors", demo=True)
    return load_segmenter(weights, PredictorConfig(tile=32, overlap=0.25, device="cpu"))


@pytest.fixture(scope="module")
def case_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_case(tmp_path_factory.mktemp("case") / "P7")


def test_canonical_grid_matches_nibabel(case_folder: Path) -> None:
    image = nib.load(str(case_folder / "P7_t1ce.nii.gz"))
    canonical = nib.as_closest_canonical(image)
    grid = canonical_grid(Grid(image.shape, image.affine))
    assert grid.shape == canonical.shape and np.allclose(grid.affine, canonical.affine)


def test_load_study_equals_case_folder_for_nifti(case_folder: Path) -> None:
    stages: list[str] = []
    study = load_study(case_folder, progress=lambda s, d, t: stages.append(s))
    reference = load_case_folder(case_folder)
    assert study.shape == reference.shape and np.allclose(study.affine, reference.affine)
    for role in ("t1", "t1ce", "t2", "flair"):
        assert np.array_equal(study.volumes[role].data, reference.volumes[role].data)
    assert study.case_id == "P7" and any(s.startswith("load") for s in stages)


def test_load_study_reads_a_dicom_folder_with_overrides(tmp_path: Path) -> None:
    folders = write_dicom_study(tmp_path / "dicom", BRATS_LIKE)
    # the user swaps T2 and FLAIR in the dialog: the overrides win over the guesses
    study = load_study(tmp_path / "dicom", {"t2": folders["flair"], "flair": folders["t2"]})
    guessed = load_study(tmp_path / "dicom")
    assert study.shape == guessed.shape == (40, 44, 36)
    assert np.array_equal(study.volumes["t2"].data, guessed.volumes["flair"].data)
    assert not np.array_equal(study.volumes["t2"].data, guessed.volumes["t2"].data)
    assert study.volumes["t1ce"].source.parent == folders["t1ce"]


def test_viewer_stage_names() -> None:
    assert [viewer_stage(s) for s in ("load t1", "scan", "register t2", "resample", "skull strip", "infer")] == [
        "loading", "loading", "registration", "registration", "skull strip", "tiles"]
    assert set(STAGES) >= {"registration", "skull strip", "tiles", "post-processing"}


def test_normalised_entropy_bounds() -> None:
    certain = np.zeros((3, 2, 2, 2), np.float32)
    coin = np.full((3, 2, 2, 2), 0.5, np.float32)
    assert np.allclose(normalised_entropy(certain, "regions"), 0, atol=1e-4)
    assert np.allclose(normalised_entropy(coin, "regions"), 1, atol=1e-4)
    uniform = np.full((4, 2, 2, 2), 0.25, np.float32)
    assert np.allclose(normalised_entropy(uniform, "softmax"), 1, atol=1e-4)


def test_segment_for_viewer_gives_maps_on_the_case_grid(case_folder: Path, segmenter) -> None:
    case = load_case_folder(case_folder)
    seen: list[tuple[str, int, int]] = []
    run = segment_for_viewer(case, segmenter, progress=lambda s, d, t: seen.append((s, d, t)))
    assert run.label.shape == case.shape and run.label.dtype == np.uint8
    assert set(np.unique(run.label)) <= {0, 1, 2, 4}
    assert run.uncertainty.shape == case.shape and run.uncertainty.dtype == np.float32
    assert 0.0 <= run.uncertainty.min() and run.uncertainty.max() <= 1.0 and run.uncertainty.max() > 0
    stages = {s for s, _, _ in seen}
    assert {"registration", "tiles", "post-processing"} <= stages
    tiles = [(d, t) for s, d, t in seen if s == "tiles"]
    assert tiles[-1][0] == tiles[-1][1] == run.tiles >= 1
    assert run.volumes_ml["WT"] == pytest.approx(np.count_nonzero(run.label) * 1e-3, abs=1e-6)
    assert run.device == "cpu" and run.demo and {"prepare", "infer", "total"} <= set(run.timings_s)
    # the same label as the batch path's NIfTI, reoriented onto the viewer's grid
    from engine.segment import segment_case

    out = segment_case(case_folder, None, case_folder.parent / "batch" / "seg.nii.gz", segmenter=segmenter)
    batch = nib.as_closest_canonical(nib.load(str(out.files["nifti"])))
    assert np.array_equal(np.asarray(batch.dataobj), run.label)


def test_cancel_during_tiles_raises_and_leaves_no_temporary(case_folder: Path, segmenter, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    case, seen = load_case_folder(case_folder), []
    with pytest.raises(OperationCancelled):
        segment_for_viewer(case, segmenter, progress=lambda s, d, t: seen.append(s), cancel=lambda: "tiles" in seen)
    assert "post-processing" not in seen and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["nifti", "dicom-seg"])
def test_export_reads_back(case_folder: Path, segmenter, tmp_path: Path, kind: str) -> None:
    case = load_case_folder(case_folder)
    run = segment_for_viewer(case, segmenter)
    label = run.label.copy()
    label[18:22, 20:24, 16:20] = 4  # an "edit" so every label value is present
    label[10:12, 20:24, 16:20] = 1
    label[25:28, 20:24, 16:20] = 2
    result = export_for_viewer(case, label, tmp_path / "out", kind, source="edited", run=run, segmenter=segmenter)
    check = result.check
    assert check.ok, check.problems
    expected = {v: int(np.count_nonzero(label == v)) for v in (1, 2, 4)}
    assert check.voxels == expected  # an exact reorientation keeps every voxel
    sidecar = json.loads(result.files["json"].read_text())
    assert sidecar["label_source"] == "edited" and sidecar["settings"]["edited"] is True
    assert "NOT FOR CLINICAL USE" in sidecar["disclaimer"] and sidecar["inference"]["device"] == "cpu"
    assert sidecar["model"]["weights_file"] == "tiny.safetensors"
    assert sidecar["postprocessing"] == run.postprocessing  # the AI run's settings and what they removed
    assert sidecar["postprocessing"]["min_component_ml"] == segmenter.postprocess.min_component_ml
    if kind == "nifti":
        written = nib.as_closest_canonical(nib.load(str(result.files["nifti"])))
        assert np.array_equal(np.asarray(written.dataobj), label)
        assert "passed" in check.summary() and check.frames == 0
    else:
        import pydicom

        seg = pydicom.dcmread(result.files["dicom-seg"])
        assert check.frames == int(seg.NumberOfFrames) == 36 * 3
        assert check.segments == ("Necrosis", "Edema", "Enhancing tumor")
        assert str(seg.SegmentSequence[0].SegmentAlgorithmType) == "SEMIAUTOMATIC"
        assert "108 frames, 3 segments" in check.summary()


def test_export_refuses_a_label_of_the_wrong_shape(case_folder: Path, tmp_path: Path) -> None:
    from engine.errors import ExportError

    case = load_case_folder(case_folder)
    with pytest.raises(ExportError, match="shape"):
        export_for_viewer(case, np.zeros((3, 3, 3), np.uint8), tmp_path, "nifti")
    with pytest.raises(ExportError, match="unknown export"):
        export_for_viewer(case, np.zeros(case.shape, np.uint8), tmp_path, "png")
    assert list(tmp_path.iterdir()) == []
