"""Issue 16: the patient's identity in the title and the export names; the notice in every exported file."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import pydicom
import pytest
from PySide6.QtGui import QImage

from engine.interactive import load_study
from engine.notice import CLINICAL_NOTICE
from gui.viewer.viewer_model import default_window_levels
from tests.engine.synthetic_cases import LPS_AXES, grid_from, write_dicom_study
from tests.gui.qt_helpers import load
from tests.gui.segment_helpers import RUN_TIMEOUT_MS, case_folder

pytestmark = pytest.mark.gui
STUDY_GRID = grid_from((40, 44, 36), (1, 1, 1), LPS_AXES)


def _export(qtbot, window, kind: str, folder: Path) -> dict[str, Path]:
    with qtbot.waitSignal(window.exports.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.exports.export(kind, folder)
    assert blocker.args[0].check.ok
    return blocker.args[0].files


def _paint(window) -> None:
    window.edit_controller.update_settings(radius_mm=3.0, value=2)
    brush = window.edit_controller.set_tool("brush")
    brush.press(tuple(n // 2 for n in window.model.shape), 2)
    brush.release()


def test_patient_id_in_title_and_default_export_name(qtbot, workstation, tmp_path):
    window = workstation
    write_dicom_study(tmp_path / "dicom", STUDY_GRID, non_mr=False)
    study_date = pydicom.dcmread(next((tmp_path / "dicom" / "series3").iterdir())).StudyDate
    case = load_study(tmp_path / "dicom")
    window.model.set_case(case, default_window_levels(case))
    title = window.windowTitle()
    assert "SYN-1" in title and "Synthetic, Head" in title, title
    assert window.exports.stem() == f"SYN-1_{study_date}_seg"
    _paint(window)
    files = _export(qtbot, window, "nifti", tmp_path / "out")
    assert files["nifti"].name == f"SYN-1_{study_date}_seg.nii.gz"
    # the export dialog opens in the last export folder next time, not in the source data's folder
    assert Path(window.exports.start_folder()) == tmp_path / "out"
    # the report names the patient
    content = window.report_controller.content()
    assert content.identifiers["Patient ID"] == "SYN-1"


def test_notice_read_back_from_dicom_seg_nifti_header_and_report(qtbot, workstation, tmp_path):
    window = workstation
    load(qtbot, window, case_folder(tmp_path))
    _paint(window)
    nifti_files = _export(qtbot, window, "nifti", tmp_path / "nifti")
    nifti = nifti_files["nifti"]
    assert CLINICAL_NOTICE in json.loads(nifti_files["json"].read_text())["disclaimer"]
    seg = _export(qtbot, window, "dicom-seg", tmp_path / "seg")["dicom-seg"]

    descrip = nib.load(nifti).header["descrip"].tobytes().decode("ascii", "ignore")
    assert CLINICAL_NOTICE in descrip
    dataset = pydicom.dcmread(seg)
    assert CLINICAL_NOTICE in dataset.SeriesDescription and CLINICAL_NOTICE in dataset.ContentDescription
    for segment in dataset.SegmentSequence:
        algorithm = segment.SegmentationAlgorithmIdentificationSequence[0]
        assert CLINICAL_NOTICE in str(algorithm.AlgorithmParameters)

    report = window.report_controller.save(tmp_path / "report.png")
    assert CLINICAL_NOTICE in QImage(str(report)).text("Disclaimer")
    assert any(CLINICAL_NOTICE in notice for notice in window.report_controller.content().notices)

    # the status bar's notice is its own widget, shown in full whatever message is displayed
    window.statusBar().showMessage("x" * 400)
    qtbot.wait(50)
    notice = window.notice_label
    assert CLINICAL_NOTICE in notice.text() and notice.isVisible()
    assert notice.width() >= notice.fontMetrics().horizontalAdvance(notice.text())


def test_study_dialog_shows_the_patient(qtbot, tmp_path):
    from gui.study.study_dialog import StudyDialog
    from gui.study.study_scan import scan_study

    write_dicom_study(tmp_path / "dicom", STUDY_GRID, non_mr=False)
    dialog = StudyDialog(scan_study([tmp_path / "dicom"]))
    qtbot.addWidget(dialog)
    text = dialog.patient_label.text()
    assert "SYN-1" in text and "Synthetic, Head" in text and "Study date" in text
