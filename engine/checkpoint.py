"""RevSeg checkpoints: safetensors weights + JSON metadata in the header; loading never unpickles anything.

Header metadata (all strings, as safetensors requires):

* ``format`` = "revseg-checkpoint", ``format_version`` = "1"
* ``config``: `UNetConfig.to_dict()` as JSON
* ``labels``: the label convention, e.g. "brats2020-regions" (sigmoid outputs ET, TC, WT)
* ``normalization``: JSON description of the input normalisation the weights expect
* ``training``: JSON training summary (epochs, data, metrics, ...); ``extra``: free JSON
* ``weights_sha256``: SHA-256 over the tensors (name, dtype, shape, bytes; names sorted)
* ``metadata_sha256``: SHA-256 over the other metadata entries, so header edits are caught too
* ``created`` (UTC ISO time) and ``engine_version``

A corrupt, truncated, tampered (hash mismatch) or foreign file raises ValueError naming the file and the
problem. Writes go to a temporary file in the same folder and are renamed into place (atomic).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes
from torch import nn

from engine import __version__
from engine.model import RevSegUNet, UNetConfig, build_network

logger = logging.getLogger(__name__)

FORMAT = "revseg-checkpoint"
FORMAT_VERSION = 1
DEFAULT_LABELS = "brats2020-regions"
_HASHED_KEYS = ("format", "format_version", "config", "labels", "normalization", "training", "extra",
                "weights_sha256", "created", "engine_version")
_MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A verified checkpoint.

    Attributes:
        path: the file it came from.
        config: the network architecture.
        state_dict: weights on the requested device.
        metadata: labels, normalization, training, extra (decoded JSON), format_version, created,
            engine_version.
        sha256: SHA-256 of the weights (verified against the header).
    """

    path: Path
    config: UNetConfig
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any]
    sha256: str

    @property
    def labels(self) -> str:
        return self.metadata["labels"]

    @property
    def normalization(self) -> Any:
        return self.metadata["normalization"]

    @property
    def training(self) -> Any:
        return self.metadata["training"]


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes (names sorted; layout independent)."""
    hasher = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous()
        hasher.update(f"{name}\0{str(tensor.dtype)}\0{list(tensor.shape)}\0".encode())
        if tensor.numel():
            hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return hasher.hexdigest()


def _metadata_sha256(metadata: dict[str, str]) -> str:
    canonical = json.dumps({key: metadata.get(key) for key in _HASHED_KEYS}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json(name: str, value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {name} must be JSON-serialisable (no NaN/inf): {error}") from error


def _unwrap(model: nn.Module) -> nn.Module:
    """The bare network under DistributedDataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    config: UNetConfig,
    *,
    labels: str = DEFAULT_LABELS,
    normalization: Any = None,
    training: Any = None,
    extra: Any = None,
) -> str:
    """Write `model`'s weights and metadata to `path` atomically; returns the weights' SHA-256.

    Args:
        path: destination file (conventionally *.safetensors); its folder must exist.
        model: the network (DDP / torch.compile wrappers are unwrapped).
        config: the config the network was built from (must equal ``model.config`` for a RevSegUNet).
        labels: label-convention name, e.g. "brats2020-regions".
        normalization: JSON-safe description of the input normalisation the weights expect.
        training: JSON-safe training summary.
        extra: any other JSON-safe information.
    """
    if not isinstance(config, UNetConfig):
        raise ValueError(f"save_checkpoint needs a UNetConfig, got {type(config).__name__}")
    if not isinstance(labels, str) or not labels:
        raise ValueError(f"labels must be a non-empty string such as {DEFAULT_LABELS!r}, got {labels!r}")
    network = _unwrap(model)
    if isinstance(network, RevSegUNet) and network.config != config:
        raise ValueError("save_checkpoint: config differs from the model's own config (model.config)")
    state = {name: t.detach().to("cpu").contiguous().clone() for name, t in network.state_dict().items()}
    digest = weights_sha256(state)
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": _json("config", config.to_dict()),
        "labels": labels,
        "normalization": _json("normalization", normalization),
        "training": _json("training", training),
        "extra": _json("extra", extra),
        "weights_sha256": digest,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "engine_version": __version__,
    }
    metadata["metadata_sha256"] = _metadata_sha256(metadata)
    _write_atomically(Path(path), safetensors_bytes(state, metadata=metadata))
    logger.info("saved checkpoint %s (weights sha256 %s)", path, digest[:12])
    return digest


def _write_atomically(path: Path, payload: bytes) -> None:
    folder = path.resolve().parent
    if not folder.is_dir():
        raise ValueError(f"cannot write checkpoint {path}: folder {folder} does not exist")
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable; not possible on every platform
        directory = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)


def _check_container(path: Path) -> None:
    """Recognise non-safetensors files before handing them to the parser, for a precise message."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        head = stream.read(16)
    if size < 10:
        raise ValueError(f"{path}: file is {size} bytes, too short to be a RevSeg checkpoint (truncated?)")
    (header_size,) = struct.unpack("<Q", head[:8])
    if header_size > _MAX_HEADER_BYTES or head[8:9] != b"{":
        if _looks_pickled(head):
            raise ValueError(
                f"{path}: this is a pickle / torch.save file, not a RevSeg checkpoint; RevSeg never unpickles "
                "files (they can run arbitrary code). Convert it with save_checkpoint in a trusted session."
            )
        raise ValueError(f"{path}: not a safetensors file (no JSON header), so not a RevSeg checkpoint")
    if 8 + header_size > size:
        raise ValueError(f"{path}: file is truncated ({size} bytes, its header alone needs {8 + header_size})")


def _looks_pickled(head: bytes) -> bool:
    """torch.save writes a zip archive; older files are a bare pickle: PROTO opcode 0x80 and a protocol 2-5."""
    return head.startswith(b"PK\x03\x04") or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as reader:
            metadata = reader.metadata() or {}
            tensors = {name: reader.get_tensor(name) for name in reader.keys()}
    except (SafetensorError, OSError, RuntimeError, ValueError) as error:
        raise ValueError(f"{path}: corrupt or truncated safetensors file ({error})") from error
    return metadata, tensors


def _decode_metadata(path: Path, metadata: dict[str, str]) -> tuple[UNetConfig, dict[str, Any]]:
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: a safetensors file but not a RevSeg checkpoint (no '{FORMAT}' metadata)")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise ValueError(f"{path}: unreadable format_version {metadata.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format version {version} is newer than this RevSeg reads ({FORMAT_VERSION}); "
            "update RevSeg"
        )
    if metadata.get("metadata_sha256") != _metadata_sha256(metadata):
        raise ValueError(f"{path}: metadata was modified after saving (metadata SHA-256 mismatch)")
    try:
        config = UNetConfig.from_dict(json.loads(metadata["config"]))
        decoded = {key: json.loads(metadata[key]) for key in ("normalization", "training", "extra")}
    except (KeyError, json.JSONDecodeError, ValueError, TypeError) as error:
        raise ValueError(f"{path}: invalid checkpoint metadata ({error})") from error
    decoded.update(
        labels=metadata.get("labels", ""),
        format_version=version,
        created=metadata.get("created"),
        engine_version=metadata.get("engine_version"),
    )
    return config, decoded


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Read and verify a checkpoint (format, metadata, weights hash) without building the network.

    Args:
        path: checkpoint file written by `save_checkpoint`.
        map_location: device for the returned tensors.
    Raises:
        FileNotFoundError: no such file.
        ValueError: corrupt, truncated, tampered or foreign file (the message names file and problem).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    _check_container(path)
    metadata, tensors = _read(path)
    config, decoded = _decode_metadata(path, metadata)
    digest = weights_sha256(tensors)
    if digest != metadata.get("weights_sha256"):
        raise ValueError(
            f"{path}: weights were modified or damaged (SHA-256 {digest[:12]}... does not match the recorded "
            f"{str(metadata.get('weights_sha256'))[:12]}...)"
        )
    tensors = {name: t.to(map_location) for name, t in tensors.items()}
    return LoadedCheckpoint(path, config, tensors, decoded, digest)


def _check_shapes(loaded: LoadedCheckpoint, model: nn.Module) -> None:
    """Refuse, in one line, weights whose tensor shapes do not fit the architecture their metadata records."""
    expected = model.state_dict()
    wrong = [name for name, tensor in loaded.state_dict.items()
             if name in expected and tuple(tensor.shape) != tuple(expected[name].shape)]
    if not wrong:
        return
    stem = loaded.state_dict.get("stem.weight")
    if stem is not None and "stem.weight" in wrong:
        raise ValueError(f"{loaded.path}: weights are for base width {int(stem.shape[0])}, the architecture in its "
                         f"metadata has {loaded.config.base_width}; the file is inconsistent: use the checkpoint as "
                         "the trainer wrote it")
    name = wrong[0]
    raise ValueError(f"{loaded.path}: weights do not fit the recorded architecture ({len(wrong)} tensors differ, e.g. "
                     f"{name} is {tuple(loaded.state_dict[name].shape)}, the model needs {tuple(expected[name].shape)}); "
                     "use the checkpoint as the trainer wrote it")


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[RevSegUNet, LoadedCheckpoint]:
    """Build the checkpoint's network, load its verified weights, move it to `device`, set eval mode.

    Args:
        path: checkpoint file.
        device: where the model should live.
    """
    loaded = load_checkpoint(path, map_location="cpu")
    model = build_network(loaded.config)
    _check_shapes(loaded, model)
    result = model.load_state_dict(loaded.state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{loaded.path}: weights do not fit the recorded config (missing {result.missing_keys[:5]}, "
            f"unexpected {result.unexpected_keys[:5]})"
        )
    return model.to(device).eval(), loaded
