"""Opening a study: scanning, the dialog (thumbnails, guesses, refusing bad assignments), recent studies,
background loading of NIfTI and DICOM studies, and the whole path to a segmentation exported as DICOM-SEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gui.review import export_controller, segment_controller, settings_dialog
from gui.study import study_dialog
from gui.study.recent_studies import RecentStudies
from gui.study.study_dialog import StudyDialog
from gui.study.study_scan import scan_study
from tests.engine.synthetic_cases import write_dicom_study
from tests.engine.test_prepare import BRATS_LIKE
from tests.gui.qt_helpers import open_window, send_drag_enter, send_drop, url_mime
from tests.gui.segment_helpers import RUN_TIMEOUT_MS, case_folder, isolated_store, tiny_weights, use_weights
from tests.gui.study_helpers import write_full_size_study

pytestmark = pytest.mark.gui
SCAN_TIMEOUT_MS = 60_000


def test_recent_studies_most_recent_first_limited_and_pruned(tmp_path: Path) -> None:
    recent = RecentStudies(isolated_store(tmp_path), limit=3)
    folders = [tmp_path / f"s{i}" for i in range(5)]
    for folder in folders:
        folder.mkdir()
        recent.add(folder)
    assert recent.paths() == [folders[4], folders[3], folders[2]]
    recent.add(folders[2])
    assert recent.paths() == [folders[2], folders[4], folders[3]]
    folders[4].rmdir()
    assert recent.paths() == [folders[2], folders[3]]
    assert RecentStudies(isolated_store(tmp_path), limit=3).paths() == [folders[2], folders[3]]  # persisted
    recent.clear()
    assert recent.paths() == []


def test_scan_nifti_folder_and_dicom_folder(tmp_path: Path, synthetic_case: Path) -> None:
    nifti = scan_study([synthetic_case])
    assert nifti.kind == "nifti" and nifti.case_folder == synthetic_case and len(nifti.entries) == 5
    by_name = {e.description: e for e in nifti.entries}
    assert by_name["SYN-001_t1ce.nii.gz"].guess.role == "t1ce" and not by_name["SYN-001_seg.nii.gz"].usable
    thumbnail = by_name["SYN-001_flair.nii.gz"].thumbnail
    assert thumbnail is not None and thumbnail.dtype == np.uint8 and thumbnail.max() > thumbnail.min()
    assert sorted(r for r in nifti.initial_roles() if r) == ["flair", "t1", "t1ce", "t2"]
    write_dicom_study(tmp_path / "dicom", BRATS_LIKE)
    dicom = scan_study([tmp_path / "dicom"])
    assert dicom.kind == "dicom" and len(dicom.entries) == 5 and dicom.case_folder is None
    ct = [e for e in dicom.entries if "CT" in e.detail]
    assert len(ct) == 1 and not ct[0].usable and ct[0].thumbnail is None
    roles = dict(zip((e.description for e in dicom.entries), dicom.initial_roles(), strict=True))
    assert roles == {"CT HEAD": None, "AX T1 SE": "t1", "AX T1 POST GD": "t1ce", "AX T2 TSE": "t2", "AX FLAIR": "flair"}
    assert all(e.thumbnail is not None for e in dicom.entries if e.usable)


def test_dialog_refuses_duplicate_and_missing_contrasts(qtbot, synthetic_case: Path) -> None:
    dialog = StudyDialog(scan_study([synthetic_case]))
    qtbot.addWidget(dialog)
    dialog.show()
    rows = {e.description: i for i, e in enumerate(dialog.scan.entries)}
    assert dialog.table.cellWidget(rows["SYN-001_t1.nii.gz"], 0).pixmap().width() > 0
    assert not dialog.combos[rows["SYN-001_seg.nii.gz"]].isEnabled()
    dialog.set_role(rows["SYN-001_t2.nii.gz"], "flair")  # FLAIR twice, T2 missing
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    text = dialog.message_label.text()
    assert dialog.isVisible() and "FLAIR is assigned to 2 series" in text and "No series is assigned to T2" in text
    dialog.set_role(rows["SYN-001_flair.nii.gz"], "t2")  # swap instead
    assert dialog.problems() == []
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert dialog.overrides()["t2"] == synthetic_case / "SYN-001_flair.nii.gz"


def test_dialog_sizes_to_its_content(qtbot, tmp_path: Path, synthetic_case: Path) -> None:
    # a long file name must be readable whole: no horizontal scrolling, and every row visible
    long_case = tmp_path / "long"
    long_case.mkdir()
    for path in synthetic_case.iterdir():
        name = path.name.replace("SYN-001", "SYN-001_a_very_long_site_specific_acquisition_protocol_name_3T_research_scanner_b_session_2")
        (long_case / name).symlink_to(path)
    dialog = StudyDialog(scan_study([long_case]))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    table = dialog.table
    assert table.horizontalScrollBar().maximum() == 0 and table.verticalScrollBar().maximum() == 0
    longest = max(table.fontMetrics().horizontalAdvance(e.description) for e in dialog.scan.entries)
    assert table.columnWidth(1) >= longest


@pytest.fixture
def studies(qtbot, tmp_path: Path):
    window = open_window(qtbot)
    controller = study_dialog.install(window, isolated_store(tmp_path))
    yield window, controller
    controller.shutdown()


def _open_and_confirm(qtbot, controller, paths: list[Path], edit=None) -> StudyDialog:  # noqa: ANN001
    """Open ``paths``, apply ``edit(dialog)`` in the dialog, press OK and wait until the study is shown."""
    with qtbot.waitSignal(controller.dialog_shown, timeout=SCAN_TIMEOUT_MS) as shown:
        assert controller.open_paths(paths)
    dialog = shown.args[0]
    if edit is not None:
        edit(dialog)
    with qtbot.waitSignal(controller.study_loaded, timeout=SCAN_TIMEOUT_MS):
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    return dialog


def test_open_dicom_study_with_reassigned_contrasts(qtbot, studies, tmp_path: Path) -> None:
    window, controller = studies
    folders = write_dicom_study(tmp_path / "dicom", BRATS_LIKE)

    def swap(dialog: StudyDialog) -> None:
        rows = {e.description: i for i, e in enumerate(dialog.scan.entries)}
        dialog.set_role(rows["AX T2 TSE"], "flair")
        dialog.set_role(rows["AX FLAIR"], "t2")

    _open_and_confirm(qtbot, controller, [tmp_path / "dicom"], swap)
    case = window.model.case
    assert case is not None and case.shape == (40, 44, 36) and window.model.label is None
    assert case.volumes["t2"].source.parent == folders["flair"] and case.volumes["flair"].source.parent == folders["t2"]
    assert controller.recent.paths() == [(tmp_path / "dicom").resolve()]
    assert controller.open_action.shortcut().toString() == "Ctrl+O" and controller.open_action.toolTip()


def test_bad_folder_gives_a_readable_message(qtbot, studies, tmp_path: Path) -> None:
    window, controller = studies
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    with qtbot.waitSignal(controller.failed, timeout=SCAN_TIMEOUT_MS) as failed:
        controller.open_paths([tmp_path / "empty"])
    assert "no NIfTI file and no DICOM series" in failed.args[0]
    assert controller.message_box.isVisible() and window.model.case is None
    controller.message_box.close()


def test_drop_a_folder_opens_the_dialog(qtbot, studies, synthetic_case: Path) -> None:
    window, controller = studies
    mime = url_mime(synthetic_case)
    assert send_drag_enter(window, mime).isAccepted()
    with qtbot.waitSignal(controller.dialog_shown, timeout=SCAN_TIMEOUT_MS) as shown:
        send_drop(window, mime)
    dialog = shown.args[0]
    assert dialog.scan.case_folder == synthetic_case and dialog.isVisible()
    assert not window.loader.busy  # the study dialog took the drop, the window did not load it directly
    dialog.reject()


def test_brats_folder_opens_with_its_label(qtbot, studies, tmp_path: Path) -> None:
    """A 240 x 240 x 155 case (four contrasts and a label map): scan + load + display. How long this takes is
    measured by scripts/measure_timings.py (docs/benchmarks.md), not asserted here."""
    window, controller = studies
    folder = write_full_size_study(tmp_path / "BraTS-big")
    _open_and_confirm(qtbot, controller, [folder])
    assert window.model.case.shape == (240, 240, 155) and window.model.label is not None
    assert int(window.model.label.sum()) == 2 * 40 * 40 * 30


def test_dicom_study_to_segmentation_to_dicom_seg(qtbot, tmp_path: Path) -> None:
    """The acceptance path: open a DICOM study, confirm, Segment (tiny model, CPU), see the label, export SEG."""
    window = open_window(qtbot)
    store = isolated_store(tmp_path)
    studies = study_dialog.install(window, store)
    settings = settings_dialog.install(window, store)
    window.segmentation = segment_controller.install(window, settings)
    exporter = export_controller.install(window)
    use_weights(settings, tiny_weights(tmp_path))
    write_dicom_study(tmp_path / "dicom", BRATS_LIKE)
    try:
        _open_and_confirm(qtbot, studies, [tmp_path / "dicom"])
        with qtbot.waitSignal(window.segmentation.finished, timeout=RUN_TIMEOUT_MS):
            assert window.segmentation.segment()
        label = window.model.label
        assert label is not None and label.shape == window.model.case.shape
        label[18:22, 20:24, 16:20] = 4  # an edit, so that the SEG holds a known segment
        window.model.notify_label_edited()
        with qtbot.waitSignal(exporter.finished, timeout=RUN_TIMEOUT_MS) as done:
            assert exporter.export("dicom-seg", tmp_path / "out")
        result = done.args[0]
        assert result.check.ok, result.check.problems
        assert result.check.voxels.get(4) == int(np.count_nonzero(label == 4)) >= 64
        assert "t1ce-dicom" not in result.files  # the SEG references the study's own T1ce series
    finally:
        for controller in (studies, window.segmentation, exporter):
            controller.shutdown()
    assert case_folder  # the helper module is shared with the other segmentation tests


REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


@pytest.mark.skipif(not (REAL / "BraTS-GLI-00001-000").is_dir(), reason=f"no real cases in {REAL}")
def test_real_brats_case_opens(qtbot, studies) -> None:
    window, controller = studies
    _open_and_confirm(qtbot, controller, [REAL / "BraTS-GLI-00001-000"])
    assert window.model.case.shape == (240, 240, 155) and window.model.case.case_id == "BraTS-GLI-00001-000"
