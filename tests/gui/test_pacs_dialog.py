"""The PACS dialog, the Studies browser and Send to PACS, driven against the Orthanc of the network tests:
query, retrieve (with Cancel and resume), open, Segment, export, Send (SEG and PDF report); and the browser's search / delete."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from engine.dicomnet import FindQuery, find
from gui.shell.workstation import build_workstation
from tests.engine.dicomnet.conftest import LOCAL_AE, ORTHANC_AE, RECEIVER_AE, orthanc  # noqa: F401 - the session's Orthanc fixture
from tests.engine.dicomnet.studies import retag
from tests.engine.dicomnet.test_report_pdf import PDF
from tests.engine.synthetic_cases import write_dicom_study
from tests.engine.test_prepare import BRATS_LIKE
from tests.gui.segment_helpers import RUN_TIMEOUT_MS, isolated_store, tiny_weights, use_weights

pytestmark = pytest.mark.gui
NET_TIMEOUT_MS = 60_000
PATIENTS = {"test_query_retrieve_open_segment_send": "GUI-1", "test_studies_browser_searches_opens_and_deletes": "GUI-2"}


@pytest.fixture
def workstation(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, orthanc):  # noqa: F811
    node = orthanc.node
    nodes = tmp_path / "nodes.json"
    nodes.write_text(json.dumps({"local_ae": LOCAL_AE, "nodes": {"orthanc": {
        "ae_title": node.ae_title, "host": node.host, "port": node.port, "dicomweb_url": node.dicomweb_url}},
        "receiver": {"ae_title": RECEIVER_AE, "port": orthanc.receiver_port, "allowed_calling_aes": [ORTHANC_AE]}}))
    monkeypatch.setenv("REVSEG_NODES", str(nodes))
    monkeypatch.setenv("REVSEG_DATA_DIR", str(tmp_path / "studies"))
    monkeypatch.setenv("REVSEG_RECOVERY_DIR", str(tmp_path / "recovery"))
    window = build_workstation(store=isolated_store(tmp_path))
    qtbot.addWidget(window)
    window.resize(1100, 800)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close()


@pytest.fixture
def on_pacs(orthanc, tmp_path: Path, request: pytest.FixtureRequest) -> str:  # noqa: F811
    """A study on the PACS whose patient ID is the test's own (GUI-<n>), so searches find only it."""
    write_dicom_study(tmp_path / "study", BRATS_LIKE, non_mr=False)
    study_uid, files = retag(tmp_path / "study", PATIENTS[request.node.name])
    orthanc.upload(files)
    return study_uid


def _run(qtbot, dialog, start) -> None:  # noqa: ANN001
    with qtbot.waitSignal(dialog.job.finished, timeout=NET_TIMEOUT_MS):
        assert start()


def test_query_retrieve_open_segment_send(qtbot, workstation, on_pacs: str, orthanc, tmp_path: Path) -> None:  # noqa: F811
    window = workstation
    dialog = window.pacs.show_pacs()
    assert dialog.node_combo.currentText() == "orthanc" and dialog.editor.ae_title.text() == "ORTHANC"
    _run(qtbot, dialog, dialog.echo)
    assert "Echo OK" in dialog.status.text()

    dialog.form.patient_id.setText("GUI-1")
    _run(qtbot, dialog, dialog.search)
    assert dialog.results.rowCount() == 1 and dialog.selected_study() == on_pacs
    assert not dialog.open_button.isEnabled()  # not retrieved yet

    # Cancel halfway: the database shows it incomplete; retrieving again completes it.
    with qtbot.waitSignal(dialog.job.failed, timeout=NET_TIMEOUT_MS) as failed:
        dialog.job.progressed.connect(lambda _s, done, _t: done >= 20 and dialog.cancel_button.click())
        assert dialog.retrieve()
    assert "cancelled" in str(failed.args[0]) and "run it again" in dialog.status.text()
    dialog.job.progressed.disconnect()
    dialog.job.progressed.connect(dialog._on_progress)
    assert not window.pacs.db.studies()[0].complete and not dialog.open_button.isEnabled()
    dialog.method.setCurrentText("WADO-RS")  # resume with another method: only the missing instances come
    _run(qtbot, dialog, dialog.retrieve)
    [row] = window.pacs.db.studies()
    assert row.complete and row.instance_count == 144 and "complete" in dialog.status.text()

    with qtbot.waitSignal(window.studies.dialog_shown, timeout=NET_TIMEOUT_MS) as shown:
        assert dialog.open_button.isEnabled() and dialog.open_selected()
    study_dialog = shown.args[0]
    with qtbot.waitSignal(window.studies.study_loaded, timeout=NET_TIMEOUT_MS):
        study_dialog.buttons.button(study_dialog.buttons.StandardButton.Ok).click()
    assert window.model.case is not None and window.model.shape == (40, 44, 36)
    dialog.close()

    use_weights(window.segment_settings, tiny_weights(tmp_path))
    window.segmentation.predictor_options = {"tile": 32, "overlap": 0.25}
    with qtbot.waitSignal(window.segmentation.finished, timeout=RUN_TIMEOUT_MS):
        assert window.segmentation.segment()
    with qtbot.waitSignal(window.exports.finished, timeout=RUN_TIMEOUT_MS) as exported:
        assert window.exports.export("dicom-seg", tmp_path / "export")
    seg_file = exported.args[0].files["dicom-seg"]
    assert pydicom.dcmread(seg_file).StudyInstanceUID == on_pacs

    sender = window.pacs.show_send()
    assert sender.files == [seg_file]
    (tmp_path / "report.pdf").write_bytes(PDF)
    assert sender.add_pdf(tmp_path / "report.pdf") == tmp_path / "report.dcm"
    with qtbot.waitSignal(sender.sent, timeout=NET_TIMEOUT_MS) as sent:
        sender.send_button.click()
    assert [o.ok for o in sent.args[0]] == [True, True]
    assert [sender.table.item(row, 1).text() for row in (0, 1)] == ["stored", "stored"]
    assert "2 of 2 accepted by orthanc" in sender.status.text()
    assert len(find(orthanc.node, FindQuery("SERIES", study_uid=on_pacs, modality="DOC"), LOCAL_AE)) == 1
    [listed] = find(orthanc.node, FindQuery("SERIES", study_uid=on_pacs, modality="SEG"), LOCAL_AE)
    assert listed.SeriesInstanceUID == pydicom.dcmread(seg_file).SeriesInstanceUID
    sender.close()


def test_studies_browser_searches_opens_and_deletes(qtbot, workstation, on_pacs: str) -> None:
    window = workstation
    dialog = window.pacs.show_pacs()
    dialog.form.patient_id.setText("GUI-2")
    dialog.use_web.setCurrentText("QIDO-RS")
    _run(qtbot, dialog, dialog.search)
    assert dialog.method.findText("C-MOVE") >= 0  # the nodes file configures our receiver
    dialog.method.setCurrentText("C-MOVE")
    _run(qtbot, dialog, dialog.retrieve)
    assert window.pacs.receiver.stored == 144  # pushed by Orthanc to the background receiver
    dialog.close()
    browser = window.pacs.show_studies()
    assert browser.table.rowCount() == 1 and browser.table.item(0, 1).text() == "GUI-2"
    assert browser.table.item(0, 8).text() == "complete" and browser.table.item(0, 6).text() == "144"
    browser.search.setText("nobody")
    assert browser.table.rowCount() == 0
    browser.search.setText("GUI")
    browser.select_study(on_pacs)
    with qtbot.waitSignal(window.studies.dialog_shown, timeout=NET_TIMEOUT_MS):
        browser.open_selected()
    window.studies.dialog.reject()
    browser = window.pacs.show_studies()
    browser.select_study(on_pacs)
    browser.delete_selected(confirm=False)
    assert browser.table.rowCount() == 0 and window.pacs.db.studies() == []
    assert "0 studies, 0 B in" in browser.size_label.text()
