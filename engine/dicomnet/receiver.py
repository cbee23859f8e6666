"""A storage SCP (C-STORE receiver) that runs in the background and files what arrives into a StudyDatabase.

It listens on localhost unless told otherwise, accepts associations only from the calling AE titles it is
given, and negotiates only the SOP classes RevSeg uses (MR, enhanced MR, SEG, secondary capture, encapsulated
PDF): a sender offering a CT or an unknown class gets no accepted presentation context, and a dataset that
arrives under another class anyway is refused with status 0x0122 (SOP class not supported).
"""

from __future__ import annotations

import logging
import threading

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt

from engine.dicomnet.association import STORAGE_CLASSES
from engine.dicomnet.database import StudyDatabase
from engine.dicomnet.errors import NodeConfigError
from engine.dicomnet.nodes import ReceiverConfig

log = logging.getLogger(__name__)

_SOP_CLASS_NOT_SUPPORTED = 0x0122
_PROCESSING_FAILURE = 0xC210


class StorageReceiver:
    """Background C-STORE SCP. Use as a context manager, or call ``start()`` and ``stop()``.

    Args:
        db: where instances go.
        config: AE title, address and allowed callers.
    """

    def __init__(self, db: StudyDatabase, config: ReceiverConfig) -> None:
        self.db, self.config = db, config
        self._server = None
        self._series_by_assoc: dict[int, set[str]] = {}
        self._lock = threading.Lock()
        self.stored = 0
        self.refused = 0

    @property
    def port(self) -> int:
        """The bound port (useful when the config asked for port 0)."""
        if self._server is None:
            raise RuntimeError("the receiver is not running; call start() first")
        return int(self._server.server_address[1])

    def start(self) -> StorageReceiver:
        ae = AE(ae_title=self.config.ae_title)
        ae.require_calling_aet = list(self.config.allowed_calling_aes)
        ae.maximum_associations = 8
        ae.maximum_pdu_size = 0  # no limit on the sender's PDUs: fewer, larger reads
        for uid in STORAGE_CLASSES:
            ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_RELEASED, self._on_released),
                    (evt.EVT_ABORTED, self._on_aborted)]
        tls = (self.config.tls.server_context(), None) if self.config.tls else None
        try:
            self._server = ae.start_server((self.config.host, self.config.port), block=False, evt_handlers=handlers,
                                           ssl_context=tls[0] if tls else None)
        except OSError as error:
            raise NodeConfigError(f"the receiver cannot listen on {self.config.host}:{self.config.port} ({error}); "
                                  "choose another port") from None
        log.info("DICOM receiver %s listening on %s:%d", self.config.ae_title, self.config.host, self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> StorageReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_store(self, event: evt.Event) -> int:
        sop_class = str(event.context.abstract_syntax)
        if sop_class not in STORAGE_CLASSES:
            self.refused += 1
            return _SOP_CLASS_NOT_SUPPORTED
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            self.db.add_instance(ds, encoded=event.encoded_dataset())
        except (OSError, ValueError) as error:
            log.error("could not store an instance from %s: %s", event.assoc.requestor.ae_title, error)
            return _PROCESSING_FAILURE
        with self._lock:
            self.stored += 1
            self._series_by_assoc.setdefault(id(event.assoc), set()).add(str(ds.SeriesInstanceUID))
        return 0x0000

    def _on_released(self, event: evt.Event) -> None:
        # A sender that released normally sent everything it meant to: series nobody announced are complete.
        with self._lock:
            series = self._series_by_assoc.pop(id(event.assoc), set())
        if series:
            self.db.finish_series(series)

    def _on_aborted(self, event: evt.Event) -> None:
        with self._lock:
            self._series_by_assoc.pop(id(event.assoc), None)
