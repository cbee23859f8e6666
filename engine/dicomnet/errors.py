"""Network errors, each a one-sentence message that says what to do.

Connection problems are ``ConnectionError`` subclasses; problems with what was asked (a SOP class the node
does not take, a bad node file) are ``ValueError`` subclasses, as everywhere in the engine.
"""

from __future__ import annotations


class DicomNetworkError(ConnectionError):
    """A DICOM network operation failed."""


class NodeUnreachableError(DicomNetworkError):
    """Nothing answers at the node's host and port."""


class AssociationRejectedError(DicomNetworkError):
    """The node answered but refused the association (wrong AE title, not allowed)."""


class NetworkTimeoutError(DicomNetworkError, TimeoutError):
    """The node stopped answering within the configured timeout."""


class PartialRetrieveError(DicomNetworkError):
    """A retrieve ended with some instances missing (failed, cancelled or aborted)."""

    def __init__(self, message: str, received: int, expected: int | None) -> None:
        super().__init__(message)
        self.received = received
        self.expected = expected


class RetrieveCancelledError(PartialRetrieveError):
    """The user cancelled a retrieve; what arrived is kept and marked incomplete."""


class UnsupportedSOPClassError(ValueError):
    """The node (or our receiver) does not accept this kind of DICOM object."""


class NodeConfigError(ValueError):
    """A node definition or nodes file is invalid."""
