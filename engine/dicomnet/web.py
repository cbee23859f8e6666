"""DICOMweb (QIDO-RS, WADO-RS, STOW-RS) against a node's ``dicomweb_url``, with dicomweb-client.

Results of QIDO come back as pydicom Datasets, like C-FIND's, so callers treat both the same way. WADO-RS
retrieves fill the same StudyDatabase as C-GET, with the same incomplete-until-all-arrived rule and resume.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pydicom
import requests
from dicomweb_client import DICOMwebClient
from pydicom.dataset import Dataset

from engine.dicomnet.database import StudyDatabase
from engine.dicomnet.dimse import Cancel, InstanceProgress, RetrieveResult, StoreOutcome, _finish
from engine.dicomnet.errors import DicomNetworkError, NetworkTimeoutError, NodeUnreachableError
from engine.dicomnet.nodes import DicomNode
from engine.dicomnet.query import RETURN_KEYS, FindQuery

log = logging.getLogger(__name__)


def client(node: DicomNode) -> DICOMwebClient:
    """A DICOMweb client for ``node``; a NodeConfigError-like ValueError when it has no URL."""
    if not node.dicomweb_url:
        raise ValueError(f"node {node.name!r} has no dicomweb_url; add it to the nodes file to use DICOMweb")
    return DICOMwebClient(url=node.dicomweb_url.rstrip("/"), timeout=node.timeout_s)


@contextmanager
def _web_errors(node: DicomNode, what: str) -> Iterator[None]:
    try:
        yield
    except requests.exceptions.Timeout:
        raise NetworkTimeoutError(f"{node.dicomweb_url} did not answer the {what} within {node.timeout_s:g} s; "
                                  "try again or raise timeout_s") from None
    except requests.exceptions.ConnectionError:
        raise NodeUnreachableError(f"nothing answers at {node.dicomweb_url} ({node.name}): check the URL and that "
                                   "the server is running") from None
    except requests.exceptions.HTTPError as error:
        code = error.response.status_code if error.response is not None else "?"
        hint = "check the credentials" if code in (401, 403) else "check the URL and the server's DICOMweb plugin"
        raise DicomNetworkError(f"{node.dicomweb_url} answered the {what} with HTTP {code}; {hint}") from None


def qido(node: DicomNode, query: FindQuery) -> list[Dataset]:
    """QIDO-RS search at STUDY, SERIES or IMAGE level (PATIENT is not part of QIDO-RS).

    One request, no client-side paging: dicomweb-client's ``get_remaining`` pages with ``offset`` until an empty
    page, and Orthanc 1.10 ignores the offset when ModalitiesInStudy is a filter, so that loop never ends.
    """
    web = client(node)
    filters = query.matches()
    fields = list(RETURN_KEYS[query.level])
    with _web_errors(node, "QIDO-RS query"):
        if query.level in ("STUDY", "PATIENT"):
            found = web.search_for_studies(search_filters=filters, fields=fields)
        elif query.level == "SERIES":
            filters.pop("StudyInstanceUID", None)
            found = web.search_for_series(query.study_uid, search_filters=filters, fields=fields)
        else:
            filters.pop("StudyInstanceUID", None)
            filters.pop("SeriesInstanceUID", None)
            found = web.search_for_instances(query.study_uid, query.series_uid, search_filters=filters,
                                             fields=fields)
    return [Dataset.from_json(item) for item in found]


def wado_study(node: DicomNode, study_uid: str, db: StudyDatabase, *, progress: InstanceProgress | None = None,
               cancel: Cancel | None = None) -> RetrieveResult:
    """WADO-RS a study into ``db``, instance by instance, resuming (only missing instances are fetched)."""
    web = client(node)
    series = qido(node, FindQuery("SERIES", study_uid=study_uid))
    if not series:
        raise DicomNetworkError(f"{node.name} has no series for study {study_uid}; check the Study Instance UID")
    wanted: dict[str, set[str]] = {}
    for found in series:
        uid = str(found.SeriesInstanceUID)
        instances = {str(d.SOPInstanceUID) for d in qido(node, FindQuery("IMAGE", study_uid=study_uid, series_uid=uid))}
        db.expect_series(study_uid, uid, len(instances), str(found.get("Modality", "")),
                         str(found.get("SeriesDescription", "")))
        wanted[uid] = instances - db.instance_uids(uid)
    result = RetrieveResult(study_uid, expected=sum(s.expected or 0 for s in db.series(study_uid)))
    result.already_present = sum(s.received for s in db.series(study_uid))
    cancelled = False
    with _web_errors(node, "WADO-RS retrieve"):
        for series_uid, missing in wanted.items():
            for sop_uid in sorted(missing):
                if cancel is not None and cancel():
                    cancelled = True
                    break
                ds = web.retrieve_instance(study_uid, series_uid, sop_uid)
                path, new = db.add_instance(ds)
                result.received += int(new)
                result.files.append(path)
                if progress is not None:
                    progress(result.already_present + result.received, result.expected)
            if cancelled:
                break
    log.info("WADO-RS of %s from %s: %d new instances", study_uid, node.name, result.received)
    return _finish(result, db, node, cancelled)


def stow(node: DicomNode, paths: Sequence[str | Path], progress: Callable[[int, int], None] | None = None
         ) -> list[StoreOutcome]:
    """STOW-RS files to ``node``; one outcome per file (0 = stored, else the failure reason code)."""
    web = client(node)
    outcomes = []
    for index, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        with _web_errors(node, "STOW-RS store"):
            answer = web.store_instances([ds])
        failed = {str(item.ReferencedSOPInstanceUID): int(item.get("FailureReason", 0xC000))
                  for item in answer.get("FailedSOPSequence", [])}
        status = failed.get(str(ds.SOPInstanceUID), 0)
        outcomes.append(StoreOutcome(Path(path), str(ds.SOPInstanceUID), status,
                                     "stored" if status == 0 else f"failure reason 0x{status:04X}"))
        if progress is not None:
            progress(index + 1, len(paths))
    return outcomes
