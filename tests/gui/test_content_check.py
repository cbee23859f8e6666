"""Issue 16: a CT-like volume or a binary mask opened as an MRI gets a warning, and Segment refuses it unless
the user proceeds anyway."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from engine.content_check import check_volume
from tests.gui.qt_helpers import load
from tests.gui.segment_helpers import (
    case_folder,
    tiny_weights,
    use_weights,
)

pytestmark = pytest.mark.gui


def _replace_t1(folder: Path, make) -> Path:
    """The small case with its T1 file's voxels replaced by ``make(shape)`` (same grid)."""
    path = folder / "P7_t1.nii.gz"
    image = nib.load(path)
    nib.save(nib.Nifti1Image(make(image.shape).astype(np.float32), image.affine), path)
    return folder


def ct_like(shape) -> np.ndarray:
    """Air at -1024 HU around soft tissue near 40 HU and a bony rim near 1000 HU, 5 mm-ish blocks."""
    rng = np.random.default_rng(0)
    volume = np.full(shape, -1024.0)
    centre = np.array(shape) / 2
    grid = np.indices(shape).transpose(1, 2, 3, 0)
    radius = np.linalg.norm((grid - centre) / (np.array(shape) * 0.4), axis=-1)
    volume[radius < 1.0] = 1000.0
    volume[radius < 0.85] = 40.0 + rng.normal(0, 8, (radius < 0.85).sum())
    return volume


def binary_mask(shape) -> np.ndarray:
    mask = np.zeros(shape)
    mask[10:30, 10:30, 10:25] = 1
    return mask


@pytest.mark.parametrize(("make", "kind", "words"), [(ct_like, "ct-like", "CT"), (binary_mask, "binary", "mask")])
def test_ct_like_volume_and_binary_mask_get_the_warning(qtbot, workstation, tmp_path, make, kind, words):
    window = workstation
    folder = _replace_t1(case_folder(tmp_path), make)
    with qtbot.waitSignal(window.content_check.checked, timeout=30_000) as blocker:
        load(qtbot, window, folder)
    findings = blocker.args[0]
    assert [(f.modality, f.kind, f.blocking) for f in findings] == [("t1", kind, True)]
    box = window.content_check.message_box
    assert isinstance(box, QMessageBox) and box.isVisible() and words in box.text() and "T1" in box.text()
    box.close()

    use_weights(window.segment_settings, tiny_weights(tmp_path))
    assert not window.segmentation.segment(), "Segment refuses a case that is not a brain MRI"
    question = window.content_check.message_box
    assert question.isVisible() and "Segment anyway" in question.text()
    anyway = next(b for b in question.buttons() if b.text() == "Segment Anyway")
    assert question.defaultButton() is not anyway  # Enter does not start a meaningless run
    window.segmentation.predictor_options = {"tile": 32, "overlap": 0.25}
    anyway.click()
    assert window.segmentation.busy, "the user may proceed anyway"
    window.segmentation.cancel()
    window.segmentation.job.wait()


def test_a_plain_synthetic_head_has_no_finding(tmp_path):
    image = nib.load(case_folder(tmp_path) / "P7_t1ce.nii.gz")
    assert check_volume("t1ce", image.get_fdata()) == []
    assert [f.kind for f in check_volume("t1", np.full((20, 20, 20), 7.0))] == ["constant"]
    assert [f.kind for f in check_volume("t1", np.zeros((256, 256, 1)))] == ["too-thin"]


def test_study_scan_confidence_reflects_the_content_read(tmp_path):
    from gui.study.study_scan import scan_study

    folder = case_folder(tmp_path)
    affine = nib.load(folder / "P7_t1.nii.gz").affine
    nib.save(nib.Nifti1Image(np.random.default_rng(1).random((64, 48, 1)).astype(np.float32), affine),
             folder / "P7_t1.nii.gz")  # a 2D picture with a BraTS name
    nib.save(nib.Nifti1Image(binary_mask((40, 44, 36)).astype(np.float32), affine), folder / "P7_flair.nii.gz")
    (folder / "P7_t2.nii.gz").write_bytes(b"not a NIfTI file")
    scan = scan_study([folder])
    guesses = {entry.description: entry.guess for entry in scan.entries}
    assert guesses["P7_t1ce.nii.gz"].confidence == 1.0
    assert guesses["P7_t1.nii.gz"].confidence == 0.0 and "not a 3D volume" in guesses["P7_t1.nii.gz"].reason
    assert guesses["P7_flair.nii.gz"].confidence == 0.0 and "mask" in guesses["P7_flair.nii.gz"].reason
    assert guesses["P7_t2.nii.gz"].confidence == 0.0 and "cannot be read" in guesses["P7_t2.nii.gz"].reason
    assert scan.initial_roles().count(None) == 3  # none of the three is pre-assigned
