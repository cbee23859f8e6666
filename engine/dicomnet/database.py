"""The local study database: an SQLite index of the DICOM instances RevSeg holds, and the files themselves.

Layout under the storage folder (the user's data folder by default, ``default_storage_dir()``)::

    studies.sqlite                      patients / studies / series / instances
    files/<study>/<series>/<sop>.dcm    one file per instance, written under a temporary name and renamed

Every instance is added in one transaction (file first, then its row), so a crash never leaves a row without
its file. Rows are keyed by UID, so receiving or importing the same instance twice replaces it instead of
adding a duplicate. A series is *complete* only when as many instances as expected are present: the expected
count comes from the PACS (NumberOfSeriesRelatedInstances, set before a retrieve), from the folder an import
reads, or, for instances pushed to our receiver with no retrieve behind them, from an association that was
released normally. Anything half-received stays incomplete.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from engine.errors import CancelCheck, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (patient_key TEXT PRIMARY KEY, patient_id TEXT, name TEXT, birth_date TEXT);
CREATE TABLE IF NOT EXISTS studies (study_uid TEXT PRIMARY KEY, patient_key TEXT NOT NULL, date TEXT,
    description TEXT, accession TEXT);
CREATE TABLE IF NOT EXISTS series (series_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL, modality TEXT,
    description TEXT, number INTEGER, expected INTEGER, complete INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS instances (sop_uid TEXT PRIMARY KEY, series_uid TEXT NOT NULL, sop_class TEXT,
    number INTEGER, path TEXT NOT NULL, size INTEGER NOT NULL, owned INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS series_by_study ON series(study_uid);
CREATE INDEX IF NOT EXISTS instances_by_series ON instances(series_uid);
"""


def default_storage_dir() -> Path:
    """``$REVSEG_DATA_DIR``, else ``$XDG_DATA_HOME/revseg/studies`` (``~/.local/share`` by default)."""
    if os.environ.get("REVSEG_DATA_DIR"):
        return Path(os.environ["REVSEG_DATA_DIR"])
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "revseg" / "studies"


@dataclass(frozen=True)
class StudyRow:
    """One study in the database, with the counts the browser shows."""

    study_uid: str
    patient_id: str
    patient_name: str
    date: str
    description: str
    accession: str
    modalities: tuple[str, ...]
    series_count: int
    instance_count: int
    size_bytes: int
    complete: bool


@dataclass(frozen=True)
class SeriesRow:
    """One series: ``expected`` is None while nobody has said how many instances it has."""

    series_uid: str
    study_uid: str
    modality: str
    description: str
    number: int | None
    expected: int | None
    received: int
    complete: bool


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "")


def _number(ds: pydicom.Dataset, keyword: str) -> int | None:
    try:
        return int(ds.get(keyword)) if ds.get(keyword) not in (None, "") else None
    except (TypeError, ValueError):
        return None


class StudyDatabase:
    """SQLite index plus file store; safe to use from several threads (the receiver's and the caller's).

    Args:
        root: storage folder (created); ``default_storage_dir()`` when None.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_storage_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.root / "studies.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ---- adding instances -------------------------------------------------------------------------------
    def instance_path(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        """Where the file of an instance is kept."""
        return self.root / "files" / study_uid / series_uid / f"{sop_uid}.dcm"

    def add_instance(self, ds: pydicom.Dataset, encoded: bytes | None = None, source: Path | None = None,
                     copy: bool = True) -> tuple[Path, bool]:
        """Store one instance: write its file (from ``encoded`` file bytes, ``source`` or ``ds``), then index it.

        Args:
            ds: the instance (headers suffice when ``encoded`` or ``source`` is given).
            encoded: the complete DICOM file (preamble, meta, dataset), as a receiver gets it.
            source: an existing file to copy (or, with ``copy=False``, to index where it is).
            copy: copy ``source`` into the store (deleting the study then deletes the copy, never the original).

        Returns:
            The file path and whether the instance was new (False: it replaced the same SOP Instance UID).
        """
        study, series, sop = _text(ds, "StudyInstanceUID"), _text(ds, "SeriesInstanceUID"), _text(ds, "SOPInstanceUID")
        if not (study and series and sop):
            raise ValueError("a DICOM instance without Study, Series or SOP Instance UID cannot be stored")
        owned = source is None or copy
        path = self.instance_path(study, series, sop) if owned else Path(source).resolve()
        if owned:
            self._write_file(path, ds, encoded, source)
        with self._transaction() as db:
            new = db.execute("SELECT 1 FROM instances WHERE sop_uid=?", (sop,)).fetchone() is None
            self._upsert_parents(db, ds)
            db.execute("INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?,?)",
                       (sop, series, _text(ds, "SOPClassUID"), _number(ds, "InstanceNumber"),
                        str(path.relative_to(self.root) if owned else path), path.stat().st_size, int(owned)))
            self._refresh_completion(db, series)
        return path, new

    @staticmethod
    def _write_file(path: Path, ds: pydicom.Dataset, encoded: bytes | None, source: Path | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{threading.get_ident()}.part")
        if encoded is not None:
            temporary.write_bytes(encoded)
        elif source is not None:
            shutil.copyfile(source, temporary)
        else:
            ds.save_as(temporary, enforce_file_format=True)
        os.replace(temporary, path)

    @staticmethod
    def _upsert_parents(db: sqlite3.Connection, ds: pydicom.Dataset) -> None:
        patient_key = f"{_text(ds, 'PatientID')}|{_text(ds, 'PatientName')}"
        db.execute("INSERT OR IGNORE INTO patients VALUES (?,?,?,?)",
                   (patient_key, _text(ds, "PatientID"), _text(ds, "PatientName"), _text(ds, "PatientBirthDate")))
        db.execute("INSERT OR IGNORE INTO studies VALUES (?,?,?,?,?)",
                   (_text(ds, "StudyInstanceUID"), patient_key, _text(ds, "StudyDate"),
                    _text(ds, "StudyDescription"), _text(ds, "AccessionNumber")))
        db.execute("INSERT INTO series (series_uid, study_uid, modality, description, number) VALUES (?,?,?,?,?) "
                   "ON CONFLICT(series_uid) DO UPDATE SET modality=excluded.modality, "
                   "description=excluded.description, number=excluded.number",
                   (_text(ds, "SeriesInstanceUID"), _text(ds, "StudyInstanceUID"), _text(ds, "Modality"),
                    _text(ds, "SeriesDescription"), _number(ds, "SeriesNumber")))

    @staticmethod
    def _refresh_completion(db: sqlite3.Connection, series_uid: str) -> None:
        db.execute("UPDATE series SET complete = (expected IS NOT NULL AND "
                   "(SELECT COUNT(*) FROM instances WHERE series_uid=?) >= expected) WHERE series_uid=?",
                   (series_uid, series_uid))

    def expect_series(self, study_uid: str, series_uid: str, expected: int, modality: str = "",
                      description: str = "") -> None:
        """Record how many instances a series has (before retrieving it); it is incomplete until they are all here."""
        if expected < 0:
            raise ValueError(f"expected instance count {expected} is negative")
        with self._transaction() as db:
            db.execute("INSERT INTO series (series_uid, study_uid, modality, description, expected) VALUES "
                       "(?,?,?,?,?) ON CONFLICT(series_uid) DO UPDATE SET expected=excluded.expected",
                       (series_uid, study_uid, modality, description, expected))
            self._refresh_completion(db, series_uid)

    def finish_series(self, series_uids: set[str]) -> None:
        """A sender finished normally: series with no expected count take the count received as expected."""
        with self._transaction() as db:
            for uid in series_uids:
                db.execute("UPDATE series SET expected=(SELECT COUNT(*) FROM instances WHERE series_uid=?) "
                           "WHERE series_uid=? AND expected IS NULL", (uid, uid))
                self._refresh_completion(db, uid)

    # ---- import from a folder ---------------------------------------------------------------------------
    def import_folder(self, folder: str | Path, *, copy: bool = True, progress: ProgressCallback | None = None,
                      cancel: CancelCheck | None = None) -> int:
        """Index (and by default copy) every DICOM file under ``folder``; returns the number of instances added.

        Each series read completely gets its file count as expected count, so it shows complete; a cancelled
        import leaves the series it was in incomplete.
        """
        files = [p for p in sorted(Path(folder).rglob("*")) if p.is_file()]
        headers: dict[str, list[tuple[Path, pydicom.Dataset]]] = {}
        for path in files:
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except (InvalidDicomError, OSError, EOFError, ValueError, TypeError):
                continue
            if "SOPInstanceUID" in ds and "SeriesInstanceUID" in ds:
                headers.setdefault(str(ds.SeriesInstanceUID), []).append((path, ds))
        total, done = sum(len(v) for v in headers.values()), 0
        for series_uid, members in headers.items():
            self.expect_series(str(members[0][1].StudyInstanceUID), series_uid,
                               len({str(ds.SOPInstanceUID) for _, ds in members}))
            for path, ds in members:
                check_cancel(cancel, "DICOM import")
                done += int(self.add_instance(ds, source=path, copy=copy)[1])
                report(progress, "import", done, total)
        log.info("imported %d new instances from %s", done, folder)
        return done

    # ---- reading ----------------------------------------------------------------------------------------
    def studies(self, text: str = "") -> list[StudyRow]:
        """All studies, newest first; ``text`` filters on patient name / ID, description or accession."""
        pattern = f"%{text}%"
        with self._lock:
            rows = self._db.execute(
                "SELECT s.study_uid, p.patient_id, p.name, s.date, s.description, s.accession FROM studies s "
                "JOIN patients p ON p.patient_key = s.patient_key WHERE p.patient_id LIKE ? OR p.name LIKE ? "
                "OR s.description LIKE ? OR s.accession LIKE ? OR s.study_uid = ? ORDER BY s.date DESC",
                (pattern, pattern, pattern, pattern, text)).fetchall()
            return [self._study_row(row) for row in rows]

    def _study_row(self, row: tuple) -> StudyRow:
        series = self.series(row[0])
        return StudyRow(*row, modalities=tuple(sorted({s.modality for s in series if s.modality})),
                        series_count=len(series), instance_count=sum(s.received for s in series),
                        size_bytes=self.size_bytes(row[0]), complete=bool(series) and all(s.complete for s in series))

    def series(self, study_uid: str) -> list[SeriesRow]:
        """The series of a study, by series number."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.series_uid, s.study_uid, s.modality, s.description, s.number, s.expected, "
                "(SELECT COUNT(*) FROM instances i WHERE i.series_uid = s.series_uid), s.complete "
                "FROM series s WHERE s.study_uid=? ORDER BY s.number, s.series_uid", (study_uid,)).fetchall()
        return [SeriesRow(*row[:7], complete=bool(row[7])) for row in rows]

    def instance_uids(self, series_uid: str) -> set[str]:
        """SOP Instance UIDs held for a series."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT sop_uid FROM instances WHERE series_uid=?", (series_uid,))}

    def files(self, study_uid: str, series_uid: str | None = None) -> list[Path]:
        """Files of a study (or one of its series)."""
        query = ("SELECT i.path FROM instances i JOIN series s ON s.series_uid=i.series_uid WHERE s.study_uid=?"
                 + (" AND s.series_uid=?" if series_uid else "") + " ORDER BY i.series_uid, i.number, i.sop_uid")
        with self._lock:
            rows = self._db.execute(query, (study_uid, series_uid) if series_uid else (study_uid,)).fetchall()
        return [self.root / r[0] for r in rows]

    def study_folder(self, study_uid: str) -> Path:
        """The folder holding a study's stored files (what ``segment`` reads)."""
        return self.root / "files" / study_uid

    def size_bytes(self, study_uid: str | None = None) -> int:
        """Bytes of stored files, of one study or of everything."""
        query = "SELECT COALESCE(SUM(i.size), 0) FROM instances i"
        with self._lock:
            if study_uid is None:
                return int(self._db.execute(query).fetchone()[0])
            return int(self._db.execute(query + " JOIN series s ON s.series_uid=i.series_uid WHERE s.study_uid=?",
                                        (study_uid,)).fetchone()[0])

    # ---- deleting ---------------------------------------------------------------------------------------
    def delete_study(self, study_uid: str) -> int:
        """Remove a study's rows and the files the store owns; returns the number of instances removed."""
        with self._transaction() as db:
            count = db.execute("SELECT COUNT(*) FROM instances WHERE series_uid IN "
                               "(SELECT series_uid FROM series WHERE study_uid=?)", (study_uid,)).fetchone()[0]
            db.execute("DELETE FROM instances WHERE series_uid IN (SELECT series_uid FROM series WHERE study_uid=?)",
                       (study_uid,))
            db.execute("DELETE FROM series WHERE study_uid=?", (study_uid,))
            patient = db.execute("SELECT patient_key FROM studies WHERE study_uid=?", (study_uid,)).fetchone()
            db.execute("DELETE FROM studies WHERE study_uid=?", (study_uid,))
            if patient:
                db.execute("DELETE FROM patients WHERE patient_key=? AND NOT EXISTS "
                           "(SELECT 1 FROM studies WHERE patient_key=?)", (patient[0], patient[0]))
        shutil.rmtree(self.study_folder(study_uid), ignore_errors=True)
        log.info("deleted study %s (%d instances)", study_uid, count)
        return int(count)


InstanceSink = Callable[[pydicom.Dataset, bytes | None], None]
