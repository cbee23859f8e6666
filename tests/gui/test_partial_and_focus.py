"""Issue 16: a study with three contrasts opens and is viewed (Segment disabled, saying what is missing); after
Segment the views jump to the largest lesion, so a label is visible in all three slice views."""

from __future__ import annotations

import numpy as np
import pytest

from engine.interactive import load_study
from tests.engine.synthetic_cases import LPS_AXES, grid_from, write_dicom_study
from tests.gui.qt_helpers import grey_pixels, load, pixels
from tests.gui.segment_helpers import (
    RUN_TIMEOUT_MS,
    case_folder,
    tiny_weights,
    use_weights,
)

pytestmark = pytest.mark.gui


def test_three_contrast_study_opens_and_views(qtbot, workstation, tmp_path):
    window = workstation
    folder = case_folder(tmp_path)
    (folder / "P7_t2.nii.gz").unlink()
    load(qtbot, window, folder)
    assert sorted(window.model.case.volumes) == ["flair", "t1", "t1ce"]
    qtbot.wait(100)
    for view in window.slice_views:
        assert grey_pixels(pixels(view)).size > 0, f"{view.plane.name} view shows the image"
    action = window.segmentation.segment_action
    assert not action.isEnabled() and "T2" in action.toolTip()
    assert not window.segmentation.segment()
    # a DICOM study with three series opens too (the study dialog's reader)
    write_dicom_study(tmp_path / "dicom", grid_from((40, 44, 36), (1, 1, 1), LPS_AXES), non_mr=False,
                      series={"t1": ("AX T1 SE", {}), "t1ce": ("AX T1 POST GD", {"ContrastBolusAgent": "Gd"}),
                              "flair": ("AX FLAIR", {"InversionTime": "2500"})})
    study = load_study(tmp_path / "dicom", partial=True)
    assert sorted(study.volumes) == ["flair", "t1", "t1ce"]


def test_after_segment_a_label_is_visible_in_all_three_slice_views(qtbot, workstation, tmp_path):
    window = workstation
    load(qtbot, window, case_folder(tmp_path))
    window.model.set_cursor((0, 0, 0))  # a corner: no tumour in any view before the jump
    use_weights(window.segment_settings, tiny_weights(tmp_path))
    window.segmentation.predictor_options = {"tile": 32, "overlap": 0.25}
    with qtbot.waitSignal(window.segmentation.finished, timeout=RUN_TIMEOUT_MS):
        assert window.segmentation.segment()
    label = window.model.label
    if not label.any():
        pytest.skip("the tiny test weights found no tumour on this case")
    assert window.model.label_at_cursor() != 0, "the cursor is on the largest lesion"
    qtbot.wait(100)
    with_labels = [pixels(view) for view in window.slice_views]
    window.model.set_overlay(visible=False)
    qtbot.wait(100)
    without = [pixels(view) for view in window.slice_views]
    for view, shown, hidden in zip(window.slice_views, with_labels, without, strict=True):
        assert np.any(shown != hidden), f"a label is visible in the {view.plane.name} view"


def test_case_switch_clears_stale_texts_and_settings_offer_only_existing_devices(qtbot, workstation, tmp_path):
    import torch

    from gui.review.settings_dialog import SettingsDialog

    window = workstation
    load(qtbot, window, case_folder(tmp_path))
    window.review_panel.uncertainty_info.setText("Axial slice 112: 6 uncertain voxels")
    load(qtbot, window, case_folder(tmp_path / "second"))
    assert window.review_panel.uncertainty_info.text() == ""
    dialog = SettingsDialog(window.segment_settings.settings, window)
    devices = [dialog.device_combo.itemText(i) for i in range(dialog.device_combo.count())]
    assert ("cuda" in devices) == torch.cuda.is_available() and {"auto", "cpu"} <= set(devices)
    dialog.deleteLater()


def test_an_unavailable_device_is_explained_in_gui_words():
    import torch

    from gui.review.segment_controller import device_description

    if torch.cuda.is_available():
        pytest.skip("this computer has a CUDA GPU: cuda is available")
    with pytest.raises(ValueError, match="Segmentation > Settings") as error:
        device_description("cuda")
    assert "--device" not in str(error.value)
