"""DICOM nodes (PACS, workstations, our own receiver): what to call, where, and how.

Nodes are read from a JSON or TOML file; by default ``<user config>/revseg/nodes.json`` (``$XDG_CONFIG_HOME``
or ``~/.config``), overridable with ``$REVSEG_NODES`` or the CLI's ``--nodes``. A file looks like::

    {"local_ae": "REVSEG", "nodes": {
        "pacs": {"ae_title": "ORTHANC", "host": "pacs.example.org", "port": 4242,
                 "dicomweb_url": "http://pacs.example.org:8042/dicom-web"},
        "secure": {"ae_title": "PACS", "host": "10.0.0.5", "port": 2762,
                   "tls": {"ca_file": "ca.pem", "cert_file": "me.pem", "key_file": "me.key"}}}}
"""

from __future__ import annotations

import json
import os
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from engine.dicomnet.errors import NodeConfigError

DEFAULT_LOCAL_AE = "REVSEG"


def _check_ae_title(title: str, what: str) -> str:
    if not title or len(title) > 16 or not title.isascii() or "\\" in title or title != title.strip():
        raise NodeConfigError(f"{what} AE title {title!r} is invalid; use 1-16 ASCII characters without "
                              "backslash or surrounding spaces")
    return title


@dataclass(frozen=True)
class TlsConfig:
    """TLS for a DIMSE node (DICOM over TLS, PS3.15 B.1).

    Attributes:
        ca_file: PEM file of the certificate authority that signed the node's certificate.
        cert_file: our client certificate (PEM), when the node asks for one.
        key_file: the private key of ``cert_file``.
        check_hostname: verify that the certificate names the host.
    """

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    check_hostname: bool = True

    def client_context(self) -> ssl.SSLContext:
        """An SSL context for connecting to the node."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        context.check_hostname = self.check_hostname
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for our receiver (needs ``cert_file`` and ``key_file``)."""
        if not (self.cert_file and self.key_file):
            raise NodeConfigError("a TLS receiver needs cert_file and key_file; add them to its tls settings")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.ca_file)
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.ca_file:
            context.verify_mode = ssl.CERT_REQUIRED
        return context


@dataclass(frozen=True)
class DicomNode:
    """A remote DICOM application entity.

    Attributes:
        name: short name used on the command line and in the GUI.
        ae_title: the node's AE title (called AE).
        host: host name or IP address.
        port: DIMSE port.
        tls: TLS settings, or None for plain TCP.
        dicomweb_url: base URL of its DICOMweb service (e.g. http://host:8042/dicom-web), or "".
        timeout_s: seconds to wait for the connection and for each reply.
    """

    name: str
    ae_title: str
    host: str = "127.0.0.1"
    port: int = 104
    tls: TlsConfig | None = None
    dicomweb_url: str = ""
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        _check_ae_title(self.ae_title, f"node {self.name!r}:")
        if not 0 < int(self.port) < 65536:
            raise NodeConfigError(f"node {self.name!r}: port {self.port} is out of range; use 1-65535")
        if self.timeout_s <= 0:
            raise NodeConfigError(f"node {self.name!r}: timeout_s must be positive")

    @property
    def label(self) -> str:
        """``NAME (AE@host:port)`` for messages."""
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"


@dataclass(frozen=True)
class ReceiverConfig:
    """How our storage SCP listens.

    Attributes:
        ae_title: our AE title (the C-MOVE destination PACS nodes must know).
        port: TCP port (0 picks a free one; see ``StorageReceiver.port``).
        host: address to bind; localhost by default.
        allowed_calling_aes: calling AE titles accepted; empty accepts none (configure them explicitly).
        tls: serve DICOM over TLS with these settings.
    """

    ae_title: str = DEFAULT_LOCAL_AE
    port: int = 11112
    host: str = "127.0.0.1"
    allowed_calling_aes: tuple[str, ...] = ()
    tls: TlsConfig | None = None

    def __post_init__(self) -> None:
        _check_ae_title(self.ae_title, "receiver")
        if not self.allowed_calling_aes:
            raise NodeConfigError("the receiver accepts no calling AE titles; list the PACS AE titles that may "
                                  "send to it (allowed_calling_aes)")
        for title in self.allowed_calling_aes:
            _check_ae_title(title, "allowed calling")


@dataclass(frozen=True)
class NodeBook:
    """The nodes file: our own AE title, the remote nodes by name, and our receiver (None: not configured)."""

    local_ae: str = DEFAULT_LOCAL_AE
    nodes: dict[str, DicomNode] = field(default_factory=dict)
    receiver: ReceiverConfig | None = None

    def get(self, name: str) -> DicomNode:
        """The node called ``name``; a NodeConfigError listing the known names otherwise."""
        if name not in self.nodes:
            known = ", ".join(sorted(self.nodes)) or "none"
            raise NodeConfigError(f"no DICOM node named {name!r} (known: {known}); add it to the nodes file")
        return self.nodes[name]


def default_nodes_path() -> Path:
    """``$REVSEG_NODES``, else ``$XDG_CONFIG_HOME/revseg/nodes.json`` (``~/.config`` by default)."""
    if os.environ.get("REVSEG_NODES"):
        return Path(os.environ["REVSEG_NODES"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "revseg" / "nodes.json"


def node_from_dict(name: str, entry: dict) -> DicomNode:
    """A node from one entry of a nodes file."""
    unknown = set(entry) - {"ae_title", "host", "port", "tls", "dicomweb_url", "timeout_s"}
    if unknown or "ae_title" not in entry:
        raise NodeConfigError(f"node {name!r}: needs ae_title; unknown keys: {', '.join(sorted(unknown)) or 'none'}")
    tls = TlsConfig(**entry["tls"]) if entry.get("tls") else None
    return DicomNode(name, str(entry["ae_title"]), str(entry.get("host", "127.0.0.1")), int(entry.get("port", 104)),
                     tls, str(entry.get("dicomweb_url", "")), float(entry.get("timeout_s", 30.0)))


def node_to_dict(node: DicomNode) -> dict:
    """The nodes-file entry of ``node``."""
    entry: dict = {"ae_title": node.ae_title, "host": node.host, "port": node.port, "timeout_s": node.timeout_s}
    if node.dicomweb_url:
        entry["dicomweb_url"] = node.dicomweb_url
    if node.tls:
        entry["tls"] = {k: v for k, v in vars(node.tls).items() if v is not None}
    return entry


def load_nodes(path: str | Path | None = None) -> NodeBook:
    """Read a nodes file (JSON, or TOML when it ends in .toml); an empty book when the default file is absent.

    Args:
        path: the file; ``default_nodes_path()`` when None.
    """
    file = Path(path) if path is not None else default_nodes_path()
    if not file.exists():
        if path is not None:
            raise NodeConfigError(f"nodes file {file} does not exist; create it (see docs/pacs.md)")
        return NodeBook()
    try:
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as error:
        raise NodeConfigError(f"nodes file {file} cannot be read ({error}); fix its syntax") from None
    nodes = {name: node_from_dict(name, entry) for name, entry in dict(data.get("nodes", {})).items()}
    receiver = _receiver_from_dict(data["receiver"]) if data.get("receiver") else None
    return NodeBook(_check_ae_title(str(data.get("local_ae", DEFAULT_LOCAL_AE)), "local"), nodes, receiver)


def _receiver_from_dict(entry: dict) -> ReceiverConfig:
    unknown = set(entry) - {"ae_title", "port", "host", "allowed_calling_aes", "tls"}
    if unknown:
        raise NodeConfigError(f"receiver: unknown keys {', '.join(sorted(unknown))}; use ae_title, port, host, "
                              "allowed_calling_aes, tls")
    return ReceiverConfig(str(entry.get("ae_title", DEFAULT_LOCAL_AE)), int(entry.get("port", 11112)),
                          str(entry.get("host", "127.0.0.1")), tuple(entry.get("allowed_calling_aes", ())),
                          TlsConfig(**entry["tls"]) if entry.get("tls") else None)


def save_nodes(book: NodeBook, path: str | Path | None = None) -> Path:
    """Write ``book`` as JSON (the GUI's node editor uses this)."""
    file = Path(path) if path is not None else default_nodes_path()
    file.parent.mkdir(parents=True, exist_ok=True)
    data: dict = {"local_ae": book.local_ae, "nodes": {n: node_to_dict(node) for n, node in book.nodes.items()}}
    if book.receiver is not None:
        receiver = book.receiver
        data["receiver"] = {"ae_title": receiver.ae_title, "port": receiver.port, "host": receiver.host,
                            "allowed_calling_aes": list(receiver.allowed_calling_aes)}
        if receiver.tls:
            data["receiver"]["tls"] = {k: v for k, v in vars(receiver.tls).items() if v is not None}
    temporary = file.with_name(f".{file.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    temporary.replace(file)
    return file
