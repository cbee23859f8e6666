"""Export in the GUI: NIfTI and DICOM-SEG of a segmentation made in the window, read back; overwrite question."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PySide6.QtWidgets import QMessageBox

from gui.review import export_controller, segment_controller, settings_dialog
from tests.gui.qt_helpers import open_window
from tests.gui.segment_helpers import RUN_TIMEOUT_MS, case_folder, isolated_store, tiny_weights, use_weights

pytestmark = pytest.mark.gui


@pytest.fixture
def segmented(qtbot, tmp_path: Path):
    """A window whose small case was segmented with the tiny demo model, with Export installed."""
    window = open_window(qtbot, case_folder(tmp_path))
    settings = settings_dialog.install(window, isolated_store(tmp_path))
    window.segmentation = segment_controller.install(window, settings)
    exporter = export_controller.install(window)
    use_weights(settings, tiny_weights(tmp_path))
    with qtbot.waitSignal(window.segmentation.finished, timeout=RUN_TIMEOUT_MS):
        window.segmentation.segment()
    # make every label present so that the read-back compares something in each segment
    label = window.model.label
    label[18:22, 20:24, 16:20], label[10:12, 20:24, 16:20], label[25:28, 20:24, 16:20] = 4, 1, 2
    window.model.notify_label_edited()
    yield window, exporter
    exporter.shutdown()
    window.segmentation.shutdown()


def test_export_nifti_and_seg_and_read_both_back(qtbot, segmented, tmp_path: Path) -> None:
    window, exporter = segmented
    shown = window.model.label.copy()
    out = tmp_path / "export"
    with qtbot.waitSignal(exporter.finished, timeout=RUN_TIMEOUT_MS) as nifti:
        assert exporter.export("nifti", out)
    assert nifti.args[0].check.ok and "self-check passed" in window.statusBar().currentMessage()
    written = nib.as_closest_canonical(nib.load(str(out / "P7_seg.nii.gz")))
    assert np.array_equal(np.asarray(written.dataobj), shown)  # the file holds what the window shows
    with qtbot.waitSignal(exporter.finished, timeout=RUN_TIMEOUT_MS) as seg:
        assert exporter.export("dicom-seg", out / "seg")
    result = seg.args[0]
    assert result.check.ok and result.check.frames == 36 * 3
    dataset = pydicom.dcmread(result.files["dicom-seg"])
    assert [s.SegmentLabel for s in dataset.SegmentSequence] == ["Necrosis", "Edema", "Enhancing tumor"]
    assert dataset.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"  # the label was edited
    assert result.check.voxels == {v: int(np.count_nonzero(shown == v)) for v in (1, 2, 4)}
    sidecar = json.loads((out / "seg" / "P7_seg.json").read_text())
    assert sidecar["label_source"] == "edited" and sidecar["inference"]["device"] == "cpu"
    assert "NOT FOR CLINICAL USE" in sidecar["disclaimer"]
    assert "108 frames, 3 segments" in window.statusBar().currentMessage()


def test_existing_files_are_replaced_only_after_yes(qtbot, segmented, tmp_path: Path) -> None:
    window, exporter = segmented
    out = tmp_path / "again"
    with qtbot.waitSignal(exporter.finished, timeout=RUN_TIMEOUT_MS):
        exporter.export("nifti", out)
    (out / "P7_seg.nii.gz").write_bytes(b"old")
    exporter.export("nifti", out)
    qtbot.waitUntil(lambda: exporter.message_box is not None and exporter.message_box.isVisible(), timeout=30_000)
    box = exporter.message_box
    assert "already exists" in box.text() and (out / "P7_seg.nii.gz").read_bytes() == b"old"
    with qtbot.waitSignal(exporter.finished, timeout=RUN_TIMEOUT_MS):
        box.button(QMessageBox.StandardButton.Yes).click()
    assert nib.load(str(out / "P7_seg.nii.gz")).shape == (40, 44, 36)


def test_actions_have_shortcuts_and_tooltips(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot)
    exporter = export_controller.install(window)
    assert exporter.nifti_action.shortcut().toString() == "Ctrl+E"
    assert exporter.seg_action.shortcut().toString() == "Ctrl+Shift+E"
    assert "NIfTI" in exporter.nifti_action.toolTip() and "DICOM-SEG" in exporter.seg_action.toolTip()
    assert not exporter.export("nifti", tmp_path)  # no case, no label: nothing starts
    assert "No segmentation to export" in window.statusBar().currentMessage() and list(tmp_path.iterdir()) == []
