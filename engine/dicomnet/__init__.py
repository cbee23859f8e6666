"""Hospital connectivity (headless): DICOM nodes, DIMSE query/retrieve/store, a storage receiver, DICOMweb,
and the local study database. See docs/pacs.md."""

from engine.dicomnet.database import SeriesRow, StudyDatabase, StudyRow, default_storage_dir
from engine.dicomnet.dimse import RetrieveResult, StoreOutcome, echo, find, get_study, move_study, send_files
from engine.dicomnet.errors import (
    AssociationRejectedError,
    DicomNetworkError,
    NetworkTimeoutError,
    NodeConfigError,
    NodeUnreachableError,
    PartialRetrieveError,
    RetrieveCancelledError,
    UnsupportedSOPClassError,
)
from engine.dicomnet.nodes import DicomNode, NodeBook, TlsConfig, default_nodes_path, load_nodes, save_nodes
from engine.dicomnet.query import FindQuery
from engine.dicomnet.receiver import ReceiverConfig, StorageReceiver
from engine.dicomnet.web import qido, stow, wado_study

__all__ = [
    "AssociationRejectedError", "DicomNetworkError", "DicomNode", "FindQuery", "NetworkTimeoutError", "NodeBook",
    "NodeConfigError", "NodeUnreachableError", "PartialRetrieveError", "ReceiverConfig", "RetrieveCancelledError",
    "RetrieveResult", "SeriesRow", "StorageReceiver", "StoreOutcome", "StudyDatabase", "StudyRow", "TlsConfig",
    "UnsupportedSOPClassError", "default_nodes_path", "default_storage_dir", "echo", "find", "get_study",
    "load_nodes", "move_study", "qido", "save_nodes", "send_files", "stow", "wado_study",
]
