"""Issue 16: Open Segmentation: a DICOM-SEG written by dcmqi's itkimage2segimage and a BraTS 2023 NIfTI label
map load onto their cases (resampled onto the case's grid), and can be edited and exported like an AI result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from engine.geometry import Grid, resample_labels
from engine.interactive import load_study
from gui.viewer.viewer_model import default_window_levels
from tests.engine.synthetic_cases import LPS_AXES, grid_from, write_dicom_study
from tests.gui.qt_helpers import load, send_drag_enter, send_drop, url_mime
from tests.gui.segment_helpers import RUN_TIMEOUT_MS, case_folder

pytestmark = pytest.mark.gui
STUDY_GRID = grid_from((40, 44, 36), (1, 1, 1), LPS_AXES)
ITKIMAGE2SEGIMAGE = shutil.which("itkimage2segimage", path=str(Path(sys.executable).parent)) or shutil.which(
    "itkimage2segimage")
CATEGORY = {"CodeValue": "49755003", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Morphologically Altered Structure"}


def _tumour(shape) -> np.ndarray:
    label = np.zeros(shape, np.uint8)
    label[10:20, 12:22, 8:18] = 2
    label[13:17, 15:19, 11:15] = 1
    return label


def _dcmqi_seg(folder: Path, label: np.ndarray, grid: Grid, source_series: Path) -> Path:
    """A DICOM-SEG of ``label`` (on ``grid``) made by dcmqi's itkimage2segimage against ``source_series``."""
    nib.save(nib.Nifti1Image(label, grid.affine), folder / "label.nii.gz")
    segments = [{"labelID": value, "SegmentDescription": name, "SegmentAlgorithmType": "MANUAL",
                 "SegmentedPropertyCategoryCodeSequence": CATEGORY,
                 "SegmentedPropertyTypeCodeSequence": {"CodeValue": code, "CodingSchemeDesignator": "SCT",
                                                       "CodeMeaning": name}}
                for value, name, code in ((1, "Necrosis", "6574001"), (2, "Edema", "79654002"))]
    meta = {"ContentCreatorName": "Reader^One", "ClinicalTrialSeriesID": "1", "ClinicalTrialTimePointID": "1",
            "SeriesDescription": "dcmqi SEG", "SeriesNumber": "300", "InstanceNumber": "1",
            "BodyPartExamined": "BRAIN", "segmentAttributes": [segments], "ContentLabel": "SEG",
            "ContentDescription": "made with dcmqi", "ClinicalTrialCoordinatingCenterName": "test"}
    (folder / "meta.json").write_text(json.dumps(meta))
    output = folder / "dcmqi_seg.dcm"
    subprocess.run([ITKIMAGE2SEGIMAGE, "--inputImageList", str(folder / "label.nii.gz"), "--inputDICOMDirectory",
                    str(source_series), "--inputMetadata", str(folder / "meta.json"), "--outputDICOM", str(output)],
                   check=True, capture_output=True, timeout=120)
    return output


@pytest.mark.skipif(ITKIMAGE2SEGIMAGE is None, reason="dcmqi's itkimage2segimage is not installed (pip install dcmqi)")
def test_dcmqi_dicom_seg_loads_onto_its_dicom_case(qtbot, workstation, tmp_path):
    window = workstation
    folders = write_dicom_study(tmp_path / "dicom", STUDY_GRID, non_mr=False)
    native = _tumour(STUDY_GRID.shape)
    seg = _dcmqi_seg(tmp_path, native, STUDY_GRID, folders["t1ce"])
    case = load_study(tmp_path / "dicom")
    window.model.set_case(case, default_window_levels(case))
    assert window.open_segmentation.action.isEnabled()
    with qtbot.waitSignal(window.open_segmentation.loaded, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.open_segmentation.open(seg)
    expected = resample_labels(native, STUDY_GRID, Grid(case.shape, case.affine), method="nearest")
    assert np.array_equal(window.model.label, expected) and window.model.label_source == "file"
    assert blocker.args[0].overlap == pytest.approx(1.0)
    assert window.model.label_at_cursor() in (1, 2), "the views jump to the loaded lesion"


def test_brats2023_nifti_label_dropped_on_its_case_loads_and_exports(qtbot, workstation, tmp_path):
    window = workstation
    folder = case_folder(tmp_path)
    load(qtbot, window, folder)
    reference = nib.load(folder / "P7_t1ce.nii.gz")
    label_2023 = np.zeros(reference.shape, np.uint8)
    label_2023[12:24, 14:26, 10:22] = 2
    label_2023[15:21, 17:23, 13:19] = 3  # BraTS 2023 enhancing tumour
    label_2023[17:19, 19:21, 15:17] = 1
    path = tmp_path / "P7-seg.nii.gz"
    nib.save(nib.Nifti1Image(label_2023, reference.affine), path)

    mime = url_mime(path)
    assert send_drag_enter(window, mime).isAccepted()
    with qtbot.waitSignal(window.open_segmentation.loaded, timeout=RUN_TIMEOUT_MS) as blocker:
        send_drop(window, mime)  # dropped on the window: opened onto the shown case, not as a study
    imported = blocker.args[0]
    assert "2023" in imported.convention
    case = window.model.case
    expected = resample_labels(np.where(label_2023 == 3, 4, label_2023).astype(np.uint8),
                               Grid(reference.shape, reference.affine), Grid(case.shape, case.affine), "nearest")
    assert np.array_equal(window.model.label, expected)
    assert sorted(np.unique(window.model.label)) == [0, 1, 2, 4]

    # edited and exported like an AI result
    window.edit_controller.update_settings(radius_mm=2.0, value=1)
    brush = window.edit_controller.set_tool("brush")
    brush.press((18, 20, 16), 2)
    brush.release()
    assert window.model.label_source == "edited"
    with qtbot.waitSignal(window.exports.finished, timeout=RUN_TIMEOUT_MS) as done:
        assert window.exports.export("nifti", tmp_path / "out")
    assert done.args[0].check.ok


def test_a_segmentation_of_another_study_is_refused(qtbot, workstation, tmp_path):
    window = workstation
    folder = case_folder(tmp_path)
    load(qtbot, window, folder)
    far = np.eye(4)
    far[:3, 3] = 5000.0  # half a metre away: no overlap with the case
    label = np.zeros((20, 20, 20), np.uint8)
    label[5:10, 5:10, 5:10] = 2
    nib.save(nib.Nifti1Image(label, far), tmp_path / "other_seg.nii.gz")
    with qtbot.waitSignal(window.open_segmentation.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        window.open_segmentation.open(tmp_path / "other_seg.nii.gz")
    assert "does not overlap" in blocker.args[0] and window.model.label is None
    window.open_segmentation.message_box.close()
