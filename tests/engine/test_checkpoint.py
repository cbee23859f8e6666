"""Checkpoint format: round trip, metadata, hashes, refusal of tampered / truncated / foreign files."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.checkpoint import (
    FORMAT_VERSION,
    LoadedCheckpoint,
    load_checkpoint,
    load_model,
    save_checkpoint,
    weights_sha256,
)
from engine.model import UNetConfig, build_network

CONFIG = UNetConfig(base_width=8, width_multipliers=(1, 2), encoder_blocks=(1, 1), decoder_blocks=(1,),
                    norm_groups=4, zero_init_residual=False)
NORMALIZATION = {"method": "zscore", "mask": "nonzero", "clip": [-5.0, 5.0]}
TRAINING = {"epochs": 3, "cases": 12, "best_dice": {"ET": 0.71, "TC": 0.8, "WT": 0.88}}


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module, str]:
    torch.manual_seed(0)
    model = build_network(CONFIG)
    path = tmp_path / "model.safetensors"
    digest = save_checkpoint(path, model, CONFIG, labels="brats2020-regions", normalization=NORMALIZATION,
                             training=TRAINING, extra={"note": "test"})
    return path, model, digest


def refused(path: Path, payload: bytes, message: str) -> None:
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=message) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value)


def test_round_trip_gives_the_same_outputs(saved) -> None:
    path, model, digest = saved
    loaded_model, loaded = load_model(path, "cpu")
    assert isinstance(loaded, LoadedCheckpoint)
    assert loaded.config == CONFIG and loaded.sha256 == digest == weights_sha256(model.state_dict())
    assert not loaded_model.training
    x = torch.randn(1, 4, 9, 8, 7)
    with torch.no_grad():
        assert torch.equal(loaded_model(x), model.eval()(x))


def test_metadata_is_kept(saved) -> None:
    path, _, _ = saved
    loaded = load_checkpoint(path)
    assert loaded.labels == "brats2020-regions"
    assert loaded.normalization == NORMALIZATION and loaded.training == TRAINING
    assert loaded.metadata["extra"] == {"note": "test"}
    assert loaded.metadata["format_version"] == FORMAT_VERSION
    assert set(loaded.state_dict) == set(build_network(CONFIG).state_dict())


def test_write_is_atomic_and_leaves_no_temporary_files(saved, tmp_path: Path) -> None:
    path, model, _ = saved
    save_checkpoint(path, model, CONFIG)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "bad.safetensors", model, CONFIG, training={"loss": float("nan")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_a_flipped_weight_byte_is_detected(saved) -> None:
    path, _, _ = saved
    data = bytearray(path.read_bytes())
    data[-50] ^= 0x01  # inside the last tensor's bytes
    refused(path, bytes(data), "weights were modified or damaged")


def test_edited_metadata_is_detected(saved) -> None:
    path, _, _ = saved
    data = path.read_bytes()
    at = data.index(b"brats2020-regions")
    refused(path, data[:at] + b"brats2021" + data[at + 9 :], "metadata was modified")


@pytest.mark.parametrize("keep", [0.3, 0.999])
def test_truncated_files_are_refused(saved, keep: float) -> None:
    path, _, _ = saved
    data = path.read_bytes()
    refused(path, data[: int(len(data) * keep)], "truncated")


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    # Seeded, not os.urandom: about 1 in 256 random files began with 0x80, which the check took for a pickle (it
    # now also needs a protocol byte 2-5 after it, as every pickle torch.save ever wrote has).
    noise = random.Random(19).randbytes(4096)
    refused(path, noise, "not a safetensors file")
    refused(path, b"\x80" + noise[1:], "not a safetensors file")
    refused(path, b"\x80\x02" + noise[2:], "never unpickles")
    refused(path, b"", "too short")
    torch.save(build_network(CONFIG).state_dict(), tmp_path / "pickle.pt")
    refused(path, (tmp_path / "pickle.pt").read_bytes(), "never unpickles")
    save_file({"weight": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    refused(path, (tmp_path / "other.safetensors").read_bytes(), "not a RevSeg checkpoint")
    header = json.dumps({"__metadata__": {"format": "revseg-checkpoint"}}).encode()
    refused(path, struct.pack("<Q", len(header) + 1000) + header, "truncated")


def test_config_from_a_newer_revseg_is_refused(saved, tmp_path: Path) -> None:
    path, model, _ = saved
    loaded = load_checkpoint(path)
    state = {k: v.contiguous() for k, v in loaded.state_dict.items()}
    with path.open("rb") as stream:
        (size,) = struct.unpack("<Q", stream.read(8))
        metadata = json.loads(stream.read(size))["__metadata__"]
    metadata["format_version"] = str(FORMAT_VERSION + 1)
    newer = tmp_path / "newer.safetensors"
    save_file(state, str(newer), metadata=metadata)
    with pytest.raises(ValueError, match="newer than this RevSeg"):
        load_checkpoint(newer)


def test_save_refuses_a_config_that_does_not_describe_the_model(tmp_path: Path) -> None:
    model = build_network(CONFIG)
    with pytest.raises(ValueError, match="differs from the model"):
        save_checkpoint(tmp_path / "x.safetensors", model, CONFIG.replace(base_width=16))
    with pytest.raises(ValueError, match="labels"):
        save_checkpoint(tmp_path / "x.safetensors", model, CONFIG, labels="")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.safetensors")
