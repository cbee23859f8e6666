"""The local study database on its own: import, completeness, duplicates, size, delete (no network)."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from engine.dicomnet import StudyDatabase
from engine.errors import OperationCancelled
from tests.engine.dicomnet.studies import tiny_study


@pytest.fixture()
def study(tmp_path: Path) -> tuple[str, list[Path]]:
    return tiny_study(tmp_path / "study", "DB-1")


def test_import_folder_indexes_every_instance_complete(tmp_path: Path, study) -> None:
    study_uid, files = study
    (tmp_path / "study" / "notes.txt").write_text("not DICOM")
    db = StudyDatabase(tmp_path / "db")
    assert db.import_folder(tmp_path / "study") == len(files)
    [row] = db.studies()
    assert (row.study_uid, row.patient_id, row.instance_count, row.series_count) == (study_uid, "DB-1", len(files), 2)
    assert row.complete and row.modalities == ("MR",)
    assert row.size_bytes == sum(p.stat().st_size for p in files) == db.size_bytes()
    stored = db.files(study_uid)
    assert {pydicom.dcmread(p).SOPInstanceUID for p in stored} == {pydicom.dcmread(p).SOPInstanceUID for p in files}
    assert all(p.is_relative_to(db.study_folder(study_uid)) for p in stored)


def test_importing_twice_adds_no_duplicates(tmp_path: Path, study) -> None:
    study_uid, files = study
    db = StudyDatabase(tmp_path / "db")
    db.import_folder(tmp_path / "study")
    assert db.import_folder(tmp_path / "study") == 0
    assert db.studies()[0].instance_count == len(files)
    assert len(list(db.study_folder(study_uid).rglob("*.dcm"))) == len(files)


def test_half_received_series_is_incomplete_until_the_rest_arrives(tmp_path: Path, study) -> None:
    study_uid, files = study
    db = StudyDatabase(tmp_path / "db")
    first = pydicom.dcmread(files[0])
    db.expect_series(study_uid, str(first.SeriesInstanceUID), 5)
    db.add_instance(first, source=files[0])
    [series] = [s for s in db.series(study_uid) if s.series_uid == first.SeriesInstanceUID]
    assert (series.received, series.expected, series.complete) == (1, 5, False)
    assert not db.studies()[0].complete
    for path in files:
        db.add_instance(pydicom.dcmread(path, stop_before_pixels=True), source=path)
    by_uid = {s.series_uid: s for s in db.series(study_uid)}
    announced = by_uid.pop(str(first.SeriesInstanceUID))
    assert announced.complete and announced.received == 5
    [other] = by_uid.values()  # received in full but never announced: still not shown as complete
    assert other.received == 5 and not other.complete


def test_pushed_series_completes_only_when_the_sender_finishes(tmp_path: Path, study) -> None:
    study_uid, files = study
    db = StudyDatabase(tmp_path / "db")
    ds = pydicom.dcmread(files[0])
    db.add_instance(ds)
    assert not db.series(study_uid)[0].complete  # nobody said how many: never shown as complete
    db.finish_series({str(ds.SeriesInstanceUID)})
    assert db.series(study_uid)[0].complete and db.series(study_uid)[0].expected == 1


def test_cancelled_import_leaves_the_series_incomplete(tmp_path: Path, study) -> None:
    study_uid, _ = study
    db = StudyDatabase(tmp_path / "db")
    calls = []
    with pytest.raises(OperationCancelled):
        db.import_folder(tmp_path / "study", progress=lambda *a: calls.append(a), cancel=lambda: len(calls) >= 3)
    assert db.studies()[0].instance_count == 3 and not db.studies()[0].complete


def test_delete_removes_rows_and_owned_files_only(tmp_path: Path, study) -> None:
    study_uid, files = study
    db = StudyDatabase(tmp_path / "db")
    db.import_folder(tmp_path / "study")
    other_uid, other_files = tiny_study(tmp_path / "other", "DB-2", ("t2",))
    db.import_folder(tmp_path / "other", copy=False)
    assert db.delete_study(study_uid) == len(files)
    assert [s.study_uid for s in db.studies()] == [other_uid]
    assert not db.study_folder(study_uid).exists() and db.size_bytes() == sum(p.stat().st_size for p in other_files)
    db.delete_study(other_uid)
    assert all(p.exists() for p in other_files)  # indexed in place: the originals are never deleted
    assert db.studies() == [] and db.size_bytes() == 0


def test_search_filters_by_patient_and_reopens_from_disk(tmp_path: Path, study) -> None:
    db = StudyDatabase(tmp_path / "db")
    db.import_folder(tmp_path / "study")
    tiny_study(tmp_path / "other", "XY-9", ("t2",))
    db.import_folder(tmp_path / "other")
    db.close()
    reopened = StudyDatabase(tmp_path / "db")
    assert [s.patient_id for s in reopened.studies("XY")] == ["XY-9"]
    assert len(reopened.studies()) == 2


def test_instance_without_uids_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without Study, Series or SOP Instance UID"):
        StudyDatabase(tmp_path / "db").add_instance(pydicom.Dataset())
