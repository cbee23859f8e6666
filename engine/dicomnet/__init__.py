"""Hospital connectivity (headless): DICOM nodes, DIMSE query/retrieve/store, a storage receiver, DICOMweb,
and the local study database. See docs/pacs.md.

Names are loaded on first use, so that ``main.py --help`` (which builds the ``pacs`` parser from
``engine.dicomnet.cli_args``) does not import pydicom, pynetdicom or requests.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "database": ("SeriesRow", "StudyDatabase", "StudyRow", "default_storage_dir"),
    "dimse": ("RetrieveResult", "StoreOutcome", "echo", "find", "get_study", "move_study", "send_files"),
    "errors": ("AssociationRejectedError", "DicomNetworkError", "NetworkTimeoutError", "NodeConfigError",
               "NodeUnreachableError", "PartialRetrieveError", "RetrieveCancelledError", "UnsupportedSOPClassError"),
    "nodes": ("DicomNode", "NodeBook", "ReceiverConfig", "TlsConfig", "default_nodes_path", "load_nodes",
              "save_nodes"),
    "query": ("FindQuery",),
    "receiver": ("StorageReceiver",),
    "web": ("qido", "stow", "wado_study"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> object:
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'engine.dicomnet' has no attribute {name!r}")
    return getattr(importlib.import_module(f"engine.dicomnet.{_MODULE_OF[name]}"), name)
