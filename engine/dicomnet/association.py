"""Opening an association with a node, turning every way it can fail into one clear sentence."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pydicom.uid
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.events import Event
from pynetdicom.pdu import A_ASSOCIATE_RJ
from pynetdicom.sop_class import (
    EncapsulatedPDFStorage,
    EnhancedMRImageStorage,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
)

from engine.dicomnet.errors import (
    AssociationRejectedError,
    DicomNetworkError,
    NetworkTimeoutError,
    NodeUnreachableError,
    UnsupportedSOPClassError,
)
from engine.dicomnet.nodes import DEFAULT_LOCAL_AE, DicomNode

log = logging.getLogger(__name__)

# What RevSeg reads and writes: MR images (classic and enhanced), SEG, and reports (secondary capture / PDF).
STORAGE_CLASSES: dict[str, str] = {
    str(MRImageStorage): "MR Image Storage",
    str(EnhancedMRImageStorage): "Enhanced MR Image Storage",
    str(SegmentationStorage): "Segmentation Storage",
    str(SecondaryCaptureImageStorage): "Secondary Capture Image Storage",
    str(EncapsulatedPDFStorage): "Encapsulated PDF Storage",
}


def make_ae(local_ae: str, node: DicomNode) -> AE:
    """An application entity whose timeouts are the node's."""
    ae = AE(ae_title=local_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = node.timeout_s
    ae.connection_timeout = node.timeout_s
    return ae


def _port_open(node: DicomNode) -> bool:
    try:
        with socket.create_connection((node.host, node.port), timeout=min(node.timeout_s, 5.0)):
            return True
    except OSError:
        return False


def class_name(uid: str) -> str:
    """``Name (UID)`` of a SOP class, or ``SOP class UID`` when pydicom does not know it."""
    name = STORAGE_CLASSES.get(uid) or pydicom.uid.UID(uid).name
    return f"{name} ({uid})" if name != uid else f"SOP class ({uid})"


class _RejectionWatch:
    """Keeps the peer's A-ASSOCIATE-RJ, if one arrives.

    Why: when a peer rejects and closes the connection at once (Orthanc does), pynetdicom's requestor can see the
    closed socket before it reads the rejection and report an abort; on a loaded machine that happened in 7 % of
    rejected calls. The received PDU is the ground truth, so the error names the rejection and its reason.
    """

    def __init__(self) -> None:
        self.pdu: A_ASSOCIATE_RJ | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event.pdu, A_ASSOCIATE_RJ):
            self.pdu = event.pdu


def _failure(assoc: Association, node: DicomNode, local_ae: str,
             rejection: A_ASSOCIATE_RJ | None) -> DicomNetworkError | UnsupportedSOPClassError:
    if assoc.rejected_contexts and not assoc.accepted_contexts:
        names = ", ".join(class_name(str(c.abstract_syntax)) for c in assoc.rejected_contexts)
        return UnsupportedSOPClassError(f"{node.label} does not accept {names} objects; send a supported kind or "
                                        "enable this SOP class on the node")
    if assoc.is_rejected or rejection is not None:
        reason = rejection.reason_str if rejection is not None else "association rejected"
        return AssociationRejectedError(
            f"{node.label} rejected the association from {local_ae!r}: check that its AE title is "
            f"{node.ae_title!r} and that it accepts calls from {local_ae!r} ({reason})")
    if not _port_open(node):
        return NodeUnreachableError(
            f"nothing answers at {node.host}:{node.port} ({node.name}): check the host, the port and that the "
            "PACS is running")
    return NetworkTimeoutError(
        f"{node.label} accepted the connection but did not complete the association within {node.timeout_s:g} s: "
        "check that the port speaks DICOM (and TLS settings), or raise timeout_s")


@contextmanager
def associate(node: DicomNode, contexts: Sequence[str], *, local_ae: str = DEFAULT_LOCAL_AE,
              roles: Sequence | None = None, handlers: Sequence | None = None,
              transfer_syntaxes: dict[str, Sequence[str]] | None = None) -> Iterator[Association]:
    """An established association with ``node`` proposing ``contexts``; released (or aborted) at the end.

    Args:
        node: the remote node.
        contexts: abstract syntaxes (SOP class UIDs) to propose.
        local_ae: our calling AE title.
        roles: SCP/SCU role selection items (C-GET needs them for the storage classes).
        handlers: pynetdicom event handlers bound to this association.
        transfer_syntaxes: per-context transfer syntaxes (default: pynetdicom's defaults).
    """
    ae = make_ae(local_ae, node)
    for uid in contexts:
        if transfer_syntaxes and uid in transfer_syntaxes:
            ae.add_requested_context(uid, list(transfer_syntaxes[uid]))
        else:
            ae.add_requested_context(uid)
    tls = (node.tls.client_context(), node.host) if node.tls else None
    log.debug("associating with %s", node.label)
    # max_pdu=0: no limit on what the peer sends us (pynetdicom's 16 kB default costs ~2x on large images)
    rejection = _RejectionWatch()
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, ext_neg=list(roles or []) or None,
                         evt_handlers=[*(handlers or []), (evt.EVT_PDU_RECV, rejection)], tls_args=tls, max_pdu=0)
    if not assoc.is_established:
        raise _failure(assoc, node, local_ae, rejection.pdu)
    assoc.unbind(evt.EVT_PDU_RECV, rejection)  # only the negotiation needs it; not one call per data PDU
    try:
        yield assoc
    except BaseException:
        if assoc.is_established:
            assoc.abort()
        raise
    if assoc.is_established:
        assoc.release()


def check_alive(assoc: Association, node: DicomNode, what: str) -> None:
    """Raise when the association broke down during ``what`` (timeout or abort by the peer)."""
    if assoc.is_aborted or not assoc.is_established:
        raise NetworkTimeoutError(f"{node.label} stopped answering during {what} (timeout {node.timeout_s:g} s or "
                                  "connection dropped); try again, or raise timeout_s")
