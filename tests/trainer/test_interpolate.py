"""trainer.interpolate: weight-space interpolation of a fine-tuned checkpoint with its parent (WiSE-FT)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.model import UNetConfig, build_network
from trainer.interpolate import interpolate_state, main

CONFIG = UNetConfig(base_width=8, width_multipliers=(1, 2), encoder_blocks=(1, 1), decoder_blocks=(1,),
                    norm_groups=4, zero_init_residual=False)
NORMALIZATION = {"method": "zscore-in-brain-mask"}


def saved(path: Path, seed: int, config: UNetConfig = CONFIG, dtype: torch.dtype = torch.float32) -> Path:
    torch.manual_seed(seed)
    model = build_network(config).to(dtype)
    save_checkpoint(path, model, config, normalization=NORMALIZATION, training={"seed": seed},
                    extra={"notice": "demo weights: not for clinical use"})
    return path


def test_the_mixture_lies_between_parent_and_fine_tuned(tmp_path: Path) -> None:
    parent, tuned = saved(tmp_path / "parent.safetensors", 0), saved(tmp_path / "tuned.safetensors", 1)
    out = tmp_path / "mixed.safetensors"
    assert main([str(parent), str(tuned), "--alpha", "0.25", "--out", str(out)]) == 0
    a, b, mixed = (load_checkpoint(p) for p in (parent, tuned, out))
    for name, tensor in mixed.state_dict.items():
        expected = 0.75 * a.state_dict[name] + 0.25 * b.state_dict[name]
        torch.testing.assert_close(tensor, expected, rtol=1e-6, atol=1e-6)
    record = mixed.training["interpolation"]
    assert record["alpha"] == 0.25
    assert record["parent"]["weights_sha256"] == a.sha256 and record["fine_tuned"]["weights_sha256"] == b.sha256
    assert mixed.metadata["extra"] == {"notice": "demo weights: not for clinical use"}
    assert mixed.normalization == NORMALIZATION


def test_the_ends_are_the_inputs_and_half_precision_is_kept(tmp_path: Path) -> None:
    parent = saved(tmp_path / "parent.safetensors", 0, dtype=torch.float16)
    tuned = saved(tmp_path / "tuned.safetensors", 1, dtype=torch.float16)
    for alpha, source in ((0.0, parent), (1.0, tuned)):
        out = tmp_path / f"a{alpha}.safetensors"
        assert main([str(parent), str(tuned), "--alpha", str(alpha), "--out", str(out)]) == 0
        assert load_checkpoint(out).sha256 == load_checkpoint(source).sha256


def test_alpha_outside_zero_one_is_refused() -> None:
    state = {"w": torch.zeros(2)}
    with pytest.raises(ValueError, match="alpha must lie in"):
        interpolate_state(state, state, 1.5)


def test_different_networks_are_refused_with_advice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wider = UNetConfig(base_width=16, width_multipliers=(1, 2), encoder_blocks=(1, 1), decoder_blocks=(1,),
                       norm_groups=4, zero_init_residual=False)
    parent, tuned = saved(tmp_path / "parent.safetensors", 0), saved(tmp_path / "tuned.safetensors", 1, wider)
    out = tmp_path / "mixed.safetensors"
    assert main([str(parent), str(tuned), "--alpha", "0.5", "--out", str(out)]) == 2
    assert "different networks" in capsys.readouterr().err
    assert not out.exists()
