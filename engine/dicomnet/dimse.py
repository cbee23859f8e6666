"""DIMSE services against a node: C-ECHO, C-FIND, C-GET, C-MOVE and C-STORE (pynetdicom).

Retrieves write into a ``StudyDatabase``: every series is first registered with the instance count the node
reports, so a retrieve that stops halfway leaves it incomplete; running the retrieve again asks only for the
instances that are missing (image-level requests), so nothing is fetched or stored twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import build_role, evt
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from pynetdicom.status import code_to_category

from engine.dicomnet.association import STORAGE_CLASSES, associate, check_alive, class_name
from engine.dicomnet.database import StudyDatabase
from engine.dicomnet.errors import (
    DicomNetworkError,
    PartialRetrieveError,
    RetrieveCancelledError,
    UnsupportedSOPClassError,
)
from engine.dicomnet.nodes import DEFAULT_LOCAL_AE, DicomNode
from engine.dicomnet.query import FindQuery, series_query

log = logging.getLogger(__name__)

InstanceProgress = Callable[[int, int], None]  # (instances done, instances expected)
Cancel = Callable[[], bool]
_OUT_OF_RESOURCES = 0xA700


def echo(node: DicomNode, local_ae: str = DEFAULT_LOCAL_AE) -> None:
    """C-ECHO ``node``; returns when it answers with Success, raises a DicomNetworkError otherwise."""
    with associate(node, [Verification], local_ae=local_ae) as assoc:
        status = assoc.send_c_echo()
        check_alive(assoc, node, "C-ECHO")
        if not status or status.Status != 0:
            raise DicomNetworkError(f"{node.label} answered C-ECHO with status {_status(status)}; check its logs")


def _status(status: Dataset | None) -> str:
    return f"0x{int(status.Status):04X}" if status and "Status" in status else "none"


def find(node: DicomNode, query: FindQuery, local_ae: str = DEFAULT_LOCAL_AE) -> list[Dataset]:
    """C-FIND at ``query.level`` (PATIENT uses the patient root model, STUDY / SERIES / IMAGE the study root)."""
    model = (PatientRootQueryRetrieveInformationModelFind if query.level == "PATIENT"
             else StudyRootQueryRetrieveInformationModelFind)
    results = []
    with associate(node, [model], local_ae=local_ae) as assoc:
        for status, identifier in assoc.send_c_find(query.dataset(), model):
            if not status:
                check_alive(assoc, node, "C-FIND")
            category = code_to_category(status.Status)
            if category == "Pending" and identifier is not None:
                results.append(identifier)
            elif category not in ("Pending", "Success"):
                raise DicomNetworkError(f"{node.label} refused the {query.level.lower()} query with status "
                                        f"{_status(status)} ({category}); simplify the query or check its logs")
    log.info("C-FIND %s on %s: %d results", query.level, node.name, len(results))
    return results


@dataclass
class RetrieveResult:
    """What a retrieve brought: counts over the whole study and the stored files."""

    study_uid: str
    expected: int = 0
    received: int = 0
    already_present: int = 0
    files: list[Path] = field(default_factory=list)


def plan_retrieve(node: DicomNode, study_uid: str, db: StudyDatabase, local_ae: str) -> dict[str, set[str] | None]:
    """Register the study's series in ``db`` and return what to fetch: series UID -> missing SOP UIDs (None: all)."""
    plan: dict[str, set[str] | None] = {}
    for found in find(node, series_query(study_uid), local_ae):
        series_uid = str(found.SeriesInstanceUID)
        expected = int(found.get("NumberOfSeriesRelatedInstances") or 0)
        db.expect_series(study_uid, series_uid, expected, str(found.get("Modality", "")),
                         str(found.get("SeriesDescription", "")))
        held = db.instance_uids(series_uid)
        if not held:
            plan[series_uid] = None
        elif len(held) < expected:
            remote = {str(d.SOPInstanceUID) for d in find(node, FindQuery("IMAGE", study_uid=study_uid,
                                                                          series_uid=series_uid), local_ae)}
            plan[series_uid] = remote - held
    return plan


def _retrieve_identifier(study_uid: str, series_uid: str, missing: set[str] | None) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES" if missing is None else "IMAGE"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    if missing is not None:
        ds.SOPInstanceUID = sorted(missing)
    return ds


def _store_handler(db: StudyDatabase, result: RetrieveResult, cancel: Cancel | None,
                   progress: InstanceProgress | None) -> Callable:
    def handle(event: evt.Event) -> int:
        if cancel is not None and cancel():
            return _OUT_OF_RESOURCES  # refuse whatever still comes after a cancel
        ds = event.dataset
        ds.file_meta = event.file_meta
        path, new = db.add_instance(ds, encoded=event.encoded_dataset())
        result.received += int(new)
        result.files.append(path)
        if progress is not None:
            progress(result.already_present + result.received, result.expected)
        return 0x0000
    return handle


def _finish(result: RetrieveResult, db: StudyDatabase, node: DicomNode, cancelled: bool) -> RetrieveResult:
    incomplete = [s for s in db.series(result.study_uid) if not s.complete]
    have = sum(s.received for s in db.series(result.study_uid))
    if cancelled:
        raise RetrieveCancelledError(f"retrieve of study {result.study_uid} from {node.name} was cancelled with "
                                     f"{have} of {result.expected} instances; run it again to fetch the rest",
                                     have, result.expected)
    if incomplete:
        raise PartialRetrieveError(f"retrieve of study {result.study_uid} from {node.name} ended with {have} of "
                                   f"{result.expected} instances ({len(incomplete)} series incomplete); run it "
                                   "again to fetch the rest", have, result.expected)
    return result


def _start(node: DicomNode, study_uid: str, db: StudyDatabase, local_ae: str) -> tuple[RetrieveResult, dict]:
    plan = plan_retrieve(node, study_uid, db, local_ae)
    result = RetrieveResult(study_uid, expected=sum(s.expected or 0 for s in db.series(study_uid)))
    result.already_present = sum(s.received for s in db.series(study_uid))
    if not db.series(study_uid):
        raise DicomNetworkError(f"{node.name} has no series for study {study_uid}; check the Study Instance UID")
    return result, plan


def get_study(node: DicomNode, study_uid: str, db: StudyDatabase, *, local_ae: str = DEFAULT_LOCAL_AE,
              progress: InstanceProgress | None = None, cancel: Cancel | None = None) -> RetrieveResult:
    """C-GET a study into ``db`` (resuming: only missing instances are asked for).

    Args:
        node: the PACS.
        study_uid: StudyInstanceUID to retrieve.
        db: where the instances go.
        local_ae: our AE title.
        progress: called as ``progress(instances held, instances expected)`` after each stored instance.
        cancel: polled between instances; True aborts the association (what arrived is kept, marked incomplete).

    Raises:
        RetrieveCancelledError, PartialRetrieveError, DicomNetworkError subclasses.
    """
    result, plan = _start(node, study_uid, db, local_ae)
    roles = [build_role(uid, scp_role=True) for uid in STORAGE_CLASSES]
    handlers = [(evt.EVT_C_STORE, _store_handler(db, result, cancel, progress))]
    model = StudyRootQueryRetrieveInformationModelGet
    cancelled = False
    with associate(node, [model, *STORAGE_CLASSES], local_ae=local_ae, roles=roles, handlers=handlers) as assoc:
        for series_uid, missing in plan.items():
            cancelled = _run_requests(assoc.send_c_get(_retrieve_identifier(study_uid, series_uid, missing), model),
                                      assoc, node, cancel, "C-GET")
            if cancelled:
                break
    log.info("C-GET of %s from %s: %d new instances", study_uid, node.name, result.received)
    return _finish(result, db, node, cancelled)


def _run_requests(responses: Iterable, assoc, node: DicomNode, cancel: Cancel | None, what: str) -> bool:
    """Consume a C-GET / C-MOVE response stream; True when cancelled (the association is then aborted)."""
    for status, _identifier in responses:
        if cancel is not None and cancel():
            assoc.abort()
            return True
        if not status:
            check_alive(assoc, node, what)
        category = code_to_category(status.Status)
        if category == "Failure" and status.Status in (0xA701, 0xA702, 0xA801):
            raise DicomNetworkError(f"{node.label} refused the {what}: {_move_failure(status.Status)}")
    return False


def _move_failure(code: int) -> str:
    return {0xA801: "it does not know the move destination AE title; add our receiver to its modalities",
            0xA701: "it is out of resources for the number of matches",
            0xA702: "it is out of resources for the sub-operations"}.get(code, f"status 0x{code:04X}")


def move_study(node: DicomNode, study_uid: str, db: StudyDatabase, destination_ae: str, *,
               local_ae: str = DEFAULT_LOCAL_AE, progress: InstanceProgress | None = None,
               cancel: Cancel | None = None) -> RetrieveResult:
    """C-MOVE a study to ``destination_ae`` (our running ``StorageReceiver`` over the same ``db``), resuming.

    Progress comes from the node's pending responses (completed sub-operations).
    """
    result, plan = _start(node, study_uid, db, local_ae)
    model = StudyRootQueryRetrieveInformationModelMove
    cancelled = False

    def counting(responses: Iterable) -> Iterable:
        for status, identifier in responses:
            if status and "NumberOfCompletedSuboperations" in status and progress is not None:
                progress(sum(s.received for s in db.series(study_uid)), result.expected)
            yield status, identifier

    with associate(node, [model], local_ae=local_ae) as assoc:
        for series_uid, missing in plan.items():
            identifier = _retrieve_identifier(study_uid, series_uid, missing)
            cancelled = _run_requests(counting(assoc.send_c_move(identifier, destination_ae, model)), assoc, node,
                                      cancel, "C-MOVE")
            if cancelled:
                break
    result.received = sum(s.received for s in db.series(study_uid)) - result.already_present
    result.files = db.files(study_uid)
    if plan and not cancelled and result.received == 0:
        raise PartialRetrieveError(f"{node.name} delivered none of the study's missing instances to {destination_ae}: "
                                   f"check that our receiver is running and that {node.name} knows {destination_ae} "
                                   "at our host and port", result.already_present, result.expected)
    if progress is not None:
        progress(result.already_present + result.received, result.expected)
    return _finish(result, db, node, cancelled)


@dataclass(frozen=True)
class StoreOutcome:
    """The node's answer for one sent instance."""

    path: Path
    sop_uid: str
    status: int
    message: str

    @property
    def ok(self) -> bool:
        return self.status in (0x0000, 0xB000, 0xB007, 0xB006)


def send_files(node: DicomNode, paths: Sequence[str | Path], *, local_ae: str = DEFAULT_LOCAL_AE,
               progress: InstanceProgress | None = None, cancel: Cancel | None = None) -> list[StoreOutcome]:
    """C-STORE files to ``node``; returns one outcome per file (the node's status).

    Raises:
        UnsupportedSOPClassError: the node accepts none of the presentation contexts for a file's SOP class.
    """
    datasets = [(Path(p), pydicom.dcmread(p)) for p in paths]
    syntaxes: dict[str, set[str]] = {}
    for _, ds in datasets:
        syntaxes.setdefault(str(ds.SOPClassUID), set()).add(str(ds.file_meta.TransferSyntaxUID))
    outcomes = []
    with associate(node, list(syntaxes), local_ae=local_ae, transfer_syntaxes={k: sorted(v) for k, v in
                                                                               syntaxes.items()}) as assoc:
        accepted = {str(c.abstract_syntax) for c in assoc.accepted_contexts}
        for index, (path, ds) in enumerate(datasets):
            if cancel is not None and cancel():
                break
            if str(ds.SOPClassUID) not in accepted:
                raise UnsupportedSOPClassError(
                    f"{node.label} does not accept {class_name(str(ds.SOPClassUID))} objects ({path.name}); "
                    "send a supported kind or enable this SOP class on the node")
            status = assoc.send_c_store(ds)
            check_alive(assoc, node, "C-STORE")
            outcomes.append(StoreOutcome(path, str(ds.SOPInstanceUID), int(status.Status),
                                         str(status.get("ErrorComment", code_to_category(status.Status)))))
            if progress is not None:
                progress(index + 1, len(datasets))
    log.info("C-STORE to %s: %d/%d accepted", node.name, sum(o.ok for o in outcomes), len(outcomes))
    return outcomes

