"""DIMSE and DICOMweb against a real Orthanc (conftest.orthanc): query, retrieve three ways, send, failures."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import CTImageStorage, generate_uid

from engine.dicomnet import (
    AssociationRejectedError,
    FindQuery,
    NodeConfigError,
    NodeUnreachableError,
    ReceiverConfig,
    RetrieveCancelledError,
    StorageReceiver,
    StudyDatabase,
    UnsupportedSOPClassError,
    echo,
    find,
    get_study,
    move_study,
    qido,
    send_files,
    wado_study,
)
from engine.dicomnet.association import STORAGE_CLASSES
from tests.engine.dicomnet.conftest import LOCAL_AE, ORTHANC_AE, RECEIVER_AE, free_port
from tests.engine.dicomnet.studies import tiny_study


@pytest.fixture(scope="module")
def uploaded(orthanc, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Path]]:
    folder = tmp_path_factory.mktemp("study")
    study_uid, files = tiny_study(folder / "s", "NET-1", ("t1ce", "flair", "t2"))
    orthanc.upload(files)
    return study_uid, files


def _sop_uids(paths: list[Path]) -> set[str]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths}


def test_echo_answers(orthanc) -> None:
    echo(orthanc.node, LOCAL_AE)


def test_find_at_patient_study_and_series_level(orthanc, uploaded) -> None:
    study_uid, files = uploaded
    [patient] = find(orthanc.node, FindQuery("PATIENT", patient_id="NET-1"))
    assert str(patient.PatientName) == "Test^NET-1"
    [study] = find(orthanc.node, FindQuery("STUDY", patient_id="NET-1"))
    assert study.StudyInstanceUID == study_uid and int(study.NumberOfStudyRelatedInstances) == len(files)
    series = find(orthanc.node, FindQuery("SERIES", study_uid=study_uid))
    assert {s.SeriesDescription for s in series} == {"AX T1 POST GD", "AX FLAIR", "AX T2 TSE"}
    assert sum(int(s.NumberOfSeriesRelatedInstances) for s in series) == len(files)
    date = str(study.StudyDate)
    assert find(orthanc.node, FindQuery("STUDY", patient_name="Test^NET*", date_from=date, date_to=date,
                                        modality="MR"))[0].StudyInstanceUID == study_uid
    assert find(orthanc.node, FindQuery("STUDY", patient_id="NET-1", date_to="19990101")) == []
    assert find(orthanc.node, FindQuery("STUDY", patient_id="NET-1", accession="NOPE")) == []


def test_qido_finds_the_same_study(orthanc, uploaded) -> None:
    study_uid, files = uploaded
    [study] = qido(orthanc.node, FindQuery("STUDY", patient_id="NET-1"))
    assert study.StudyInstanceUID == study_uid
    assert len(qido(orthanc.node, FindQuery("SERIES", study_uid=study_uid))) == 3


@pytest.mark.parametrize("how", ["c-get", "c-move", "wado-rs"])
def test_retrieve_brings_every_instance_complete(orthanc, uploaded, tmp_path: Path, how: str) -> None:
    study_uid, files = uploaded
    db, seen = StudyDatabase(tmp_path / "db"), []
    progress = lambda done, total: seen.append((done, total))  # noqa: E731
    if how == "c-get":
        result = get_study(orthanc.node, study_uid, db, local_ae=LOCAL_AE, progress=progress)
    elif how == "wado-rs":
        result = wado_study(orthanc.node, study_uid, db, progress=progress)
    else:
        config = ReceiverConfig(RECEIVER_AE, orthanc.receiver_port, allowed_calling_aes=(ORTHANC_AE,))
        with StorageReceiver(db, config):
            result = move_study(orthanc.node, study_uid, db, RECEIVER_AE, local_ae=LOCAL_AE, progress=progress)
    assert (result.received, result.expected) == (len(files), len(files))
    assert _sop_uids(db.files(study_uid)) == _sop_uids(files)
    assert db.studies()[0].complete and seen[-1] == (len(files), len(files))
    if how != "c-move":  # C-MOVE reports per pending response, the others per instance
        assert [done for done, _ in seen] == list(range(1, len(files) + 1))
    original = pydicom.dcmread(sorted(files)[0])
    copy = pydicom.dcmread(db.instance_path(study_uid, original.SeriesInstanceUID, original.SOPInstanceUID))
    assert copy.PixelData == original.PixelData


@pytest.mark.parametrize("how", ["c-get", "wado-rs"])
def test_retrieve_killed_halfway_is_incomplete_then_resumes(orthanc, uploaded, tmp_path: Path, how: str) -> None:
    study_uid, files = uploaded
    db, held = StudyDatabase(tmp_path / "db"), [0]
    retrieve = get_study if how == "c-get" else wado_study
    with pytest.raises(RetrieveCancelledError, match=r"cancelled with 4 of 15 instances; run it again"):
        retrieve(orthanc.node, study_uid, db, progress=lambda done, _: held.__setitem__(0, done),
                 cancel=lambda: held[0] >= 4)
    [row] = db.studies()
    assert row.instance_count == 4 and not row.complete
    assert any(not s.complete for s in db.series(study_uid))
    result = retrieve(orthanc.node, study_uid, db)
    assert (result.already_present, result.received) == (4, len(files) - 4)  # only the missing ones came
    [row] = db.studies()
    assert row.complete and row.instance_count == len(files)
    assert len(list(db.study_folder(study_uid).rglob("*.dcm"))) == len(files)
    assert _sop_uids(db.files(study_uid)) == _sop_uids(files)


def test_wrong_ae_title_is_rejected_in_one_sentence(orthanc) -> None:
    wrong = dataclasses.replace(orthanc.node, ae_title="NOT_ORTHANC")
    with pytest.raises(AssociationRejectedError,
                       match=r"rejected the association .*check that its AE title is .*\(Called AE title not"):
        echo(wrong)


def test_rejection_seen_after_the_peers_close_is_still_a_rejection(orthanc, monkeypatch) -> None:
    # Forces the order a loaded machine produced at random: Orthanc's A-ASSOCIATE-RJ and its close both arrive
    # before pynetdicom's requestor checks the connection, which it then reports as aborted
    from pynetdicom.acse import ACSE

    send_request = ACSE.send_request

    def send_then_stall(self) -> None:
        send_request(self)
        time.sleep(0.5)

    monkeypatch.setattr(ACSE, "send_request", send_then_stall)
    wrong = dataclasses.replace(orthanc.node, ae_title="NOT_ORTHANC")
    with pytest.raises(AssociationRejectedError, match=r"\(Called AE title not recognised\)"):
        echo(wrong)


def test_closed_port_is_unreachable(orthanc) -> None:
    closed = dataclasses.replace(orthanc.node, port=free_port(), timeout_s=5)
    with pytest.raises(NodeUnreachableError, match=r"nothing answers at 127\.0\.0\.1:\d+ .*is running"):
        echo(closed)


@pytest.fixture()
def receiver(tmp_path: Path):
    db = StudyDatabase(tmp_path / "rx")
    with StorageReceiver(db, ReceiverConfig("RX_TEST", 0, allowed_calling_aes=(LOCAL_AE,))) as rx:
        yield rx


def _as_sop_class(path: Path, folder: Path, sop_class: str) -> Path:
    ds = pydicom.dcmread(path)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    out = folder / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(out)
    return out


@pytest.mark.parametrize("sop_class", [str(CTImageStorage), "1.2.3.4.5.6.7"], ids=["ct", "unknown"])
def test_receiver_refuses_ct_and_unknown_classes(receiver, uploaded, tmp_path: Path, sop_class: str) -> None:
    path = _as_sop_class(uploaded[1][0], tmp_path, sop_class)
    node = dataclasses.replace(_receiver_node(receiver))
    with pytest.raises(UnsupportedSOPClassError, match=r"does not accept .*\(1\.2\.[\d.]+\) objects"):
        send_files(node, [path], local_ae=LOCAL_AE)
    assert receiver.db.studies() == [] and receiver.stored == 0


def _receiver_node(receiver: StorageReceiver):
    from engine.dicomnet import DicomNode

    return DicomNode("rx", receiver.config.ae_title, "127.0.0.1", receiver.port, timeout_s=10)


def test_receiver_accepts_mr_only_from_allowed_callers(receiver, uploaded) -> None:
    study_uid, files = uploaded
    with pytest.raises(AssociationRejectedError):
        send_files(_receiver_node(receiver), files[:1], local_ae="STRANGER")
    outcomes = send_files(_receiver_node(receiver), files, local_ae=LOCAL_AE)
    assert all(o.ok for o in outcomes) and receiver.stored == len(files)
    [row] = receiver.db.studies()
    assert row.complete and row.instance_count == len(files)  # released normally: the pushed series are whole


def test_receiver_config_needs_allowed_callers_and_a_free_port(receiver) -> None:
    with pytest.raises(NodeConfigError, match="accepts no calling AE titles"):
        ReceiverConfig("RX")
    busy = ReceiverConfig("RX2", receiver.port, allowed_calling_aes=(LOCAL_AE,))
    with pytest.raises(NodeConfigError, match="cannot listen on .*choose another port"):
        StorageReceiver(receiver.db, busy).start()


def test_storage_classes_are_the_ones_we_use() -> None:
    assert set(STORAGE_CLASSES) == {"1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1",
                                    "1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.7",
                                    "1.2.840.10008.5.1.4.1.1.104.1"}


def test_silent_port_times_out_in_one_sentence() -> None:
    import socket

    from engine.dicomnet import DicomNode, NetworkTimeoutError

    with socket.socket() as silent:  # accepts TCP connections (backlog) but never speaks DICOM
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        node = DicomNode("mute", "MUTE", "127.0.0.1", silent.getsockname()[1], timeout_s=1)
        with pytest.raises(NetworkTimeoutError, match=r"did not complete the association within 1 s"):
            echo(node)


def test_qido_with_a_modality_filter_returns(orthanc, uploaded) -> None:
    # Orthanc ignores the offset with ModalitiesInStudy: paging until an empty page would never end
    [study] = qido(orthanc.node, FindQuery("STUDY", patient_id="NET-1", modality="MR"))
    assert study.StudyInstanceUID == uploaded[0]
    assert qido(orthanc.node, FindQuery("STUDY", patient_id="NET-1", modality="CT")) == []


_KILLED_RETRIEVE = """
import os, signal, sys
from engine.dicomnet import DicomNode, StudyDatabase, get_study
node = DicomNode("orthanc", "ORTHANC", "127.0.0.1", int(sys.argv[1]), timeout_s=20)
def die_after_five(done, total):
    if done == 5:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no abort: the process just dies
get_study(node, sys.argv[2], StudyDatabase(sys.argv[3]), progress=die_after_five)
"""


def test_retrieve_in_a_killed_process_resumes_without_duplicates(orthanc, uploaded, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    study_uid, files = uploaded
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    killed = subprocess.run([sys.executable, "-c", _KILLED_RETRIEVE, str(orthanc.node.port), study_uid,
                             str(tmp_path / "db")], env=env, timeout=120)
    assert killed.returncode == -9
    db = StudyDatabase(tmp_path / "db")
    [row] = db.studies()
    assert row.instance_count == 5 and not row.complete
    assert all(path.exists() for path in db.files(study_uid))  # every row has its whole file
    result = get_study(orthanc.node, study_uid, db)
    assert (result.already_present, result.received) == (5, len(files) - 5)
    [row] = db.studies()
    assert row.complete and row.instance_count == len(files)
    assert len(list(db.study_folder(study_uid).rglob("*.dcm"))) == len(files)


def test_move_with_no_receiver_listening_says_so(orthanc, uploaded, tmp_path: Path) -> None:
    from engine.dicomnet import PartialRetrieveError

    db = StudyDatabase(tmp_path / "db")  # Orthanc knows REVSEG_RX, but nothing listens on its port
    with pytest.raises(PartialRetrieveError, match=r"delivered none .* to REVSEG_RX: check that our receiver is running"):
        move_study(orthanc.node, uploaded[0], db, RECEIVER_AE, local_ae=LOCAL_AE)
    series = db.series(uploaded[0])
    assert len(series) == 3 and all(s.received == 0 and not s.complete for s in series)
