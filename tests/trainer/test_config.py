"""TrainConfig: TOML loading, key=value overrides, round trip, and refusal of bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import TrainConfig, apply_overrides, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "trainer" / "configs"


@pytest.mark.parametrize("name", ["demo", "tiny-cpu"])
def test_bundled_configs_load(name: str) -> None:
    config = load_config(CONFIGS / f"{name}.toml")
    assert config.unet_config().in_channels == 4
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_overrides_parse_toml_values() -> None:
    config = load_config(CONFIGS / "tiny-cpu.toml", ["epochs=7", "patch_size=[40, 48, 56]", "optimizer=sgd",
                                                     "lr=2e-4", "augment=true", "model.base_width=12"])
    assert config.epochs == 7 and config.patch_size == (40, 48, 56) and config.optimizer == "sgd"
    assert config.lr == 2e-4 and config.augment is True and config.unet_config().base_width == 12
    assert config.unet_config().encoder_blocks == (1, 1, 1)  # the file's other model settings are kept


@pytest.mark.parametrize(("override", "message"), [
    ("epochs=0", "epochs"), ("optimizer=adam", "optimizer"), ("model.widht=3", "unknown model"),
    ("nonsense=1", "unknown training"), ("patch_size=[4,4,4]", "patch_size"),
])
def test_bad_settings_are_refused(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(None, [override])


def test_override_without_equals_is_refused() -> None:
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides({}, ["epochs"])
