"""The report as an Encapsulated PDF in the reported study: valid (dciodvfy), accepted by Orthanc and by our
receiver, and listed under the same study."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from engine.dicomnet import FindQuery, ReceiverConfig, StorageReceiver, StudyDatabase, find, send_files
from engine.dicomnet.report_pdf import encapsulate_pdf
from tests.engine.dicomnet.conftest import LOCAL_AE
from tests.engine.dicomnet.studies import tiny_study
from tests.engine.export.test_dicom_seg import dciodvfy_errors

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


@pytest.fixture()
def report(tmp_path: Path) -> tuple[str, Path]:
    study_uid, files = tiny_study(tmp_path / "study", "PDF-1", ("t1ce",))
    (tmp_path / "report.pdf").write_bytes(PDF)
    return study_uid, encapsulate_pdf(tmp_path / "report.pdf", files[0], tmp_path / "report.dcm")


def test_encapsulated_pdf_is_valid_and_in_the_study(report) -> None:
    study_uid, path = report
    ds = pydicom.dcmread(path)
    assert ds.StudyInstanceUID == study_uid and ds.PatientID == "PDF-1" and ds.Modality == "DOC"
    assert ds.EncapsulatedDocument[: len(PDF)] == PDF and ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert dciodvfy_errors(path) == []


def test_not_a_pdf_is_refused(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_text("plain text")
    with pytest.raises(ValueError, match="is not a PDF file"):
        encapsulate_pdf(tmp_path / "report.pdf", pydicom.Dataset(), tmp_path / "out.dcm")


def test_orthanc_and_our_receiver_take_the_report(orthanc, report, tmp_path: Path) -> None:
    study_uid, path = report
    assert [o.ok for o in send_files(orthanc.node, [path], local_ae=LOCAL_AE)] == [True]
    [listed] = find(orthanc.node, FindQuery("SERIES", study_uid=study_uid, modality="DOC"), LOCAL_AE)
    assert listed.SeriesInstanceUID == pydicom.dcmread(path).SeriesInstanceUID
    db = StudyDatabase(tmp_path / "rx")
    with StorageReceiver(db, ReceiverConfig("RX_PDF", 0, allowed_calling_aes=(LOCAL_AE,))) as receiver:
        from engine.dicomnet import DicomNode

        node = DicomNode("rx", "RX_PDF", "127.0.0.1", receiver.port, timeout_s=10)
        assert [o.ok for o in send_files(node, [path], local_ae=LOCAL_AE)] == [True]
    assert [s.modality for s in db.series(study_uid)] == ["DOC"] and db.series(study_uid)[0].complete
