"""Augmentations keep shapes and dtypes, keep labels valid and are a pure function of the generator."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.augment import (
    AugmentConfig,
    augment,
    bias_field,
    blur,
    gamma,
    low_resolution,
    noise,
    rotate_scale,
)

ALWAYS = AugmentConfig(p_rotate_scale=1.0, p_intensity=1.0, p_gamma=1.0, p_noise=1.0, p_blur=1.0, p_lowres=1.0,
                       p_bias=1.0)


def _sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(4, 20, 18, 16)).astype(np.float32)
    label = np.zeros((20, 18, 16), np.uint8)
    label[5:15, 4:14, 4:12] = 2
    label[7:12, 6:11, 6:10] = 1
    label[8:10, 7:9, 7:9] = 4
    return image, label


def test_full_augmentation_keeps_shapes_dtypes_and_valid_labels() -> None:
    image, label = _sample()
    out_image, out_label = augment(image, label, np.random.default_rng(1), ALWAYS)
    assert out_image.shape == image.shape and out_image.dtype == np.float32
    assert out_label.shape == label.shape and out_label.dtype == np.uint8
    assert set(np.unique(out_label)) <= {0, 1, 2, 4} and (out_label > 0).any()
    assert np.isfinite(out_image).all() and not np.allclose(out_image, image)


def test_augmentation_is_a_function_of_the_generator() -> None:
    image, label = _sample()
    first = augment(image, label, np.random.default_rng(7), ALWAYS)
    second = augment(image, label, np.random.default_rng(7), ALWAYS)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_rotation_without_angle_or_zoom_is_identity() -> None:
    image, label = _sample()
    out_image, out_label = rotate_scale(image, label, np.random.default_rng(0), max_deg=0.0, scale_range=(1.0, 1.0))
    np.testing.assert_allclose(out_image, image, atol=1e-5)
    np.testing.assert_array_equal(out_label, label)


@pytest.mark.parametrize("transform", [gamma, noise, blur, low_resolution, bias_field])
def test_intensity_transforms_keep_shape(transform) -> None:  # noqa: ANN001 - a transform function
    image, _ = _sample()
    out = transform(image, np.random.default_rng(3))
    assert out.shape == image.shape and out.dtype == np.float32 and np.isfinite(out).all()


def test_bias_field_is_smooth_and_multiplicative() -> None:
    image = np.ones((2, 16, 16, 16), np.float32)
    out = bias_field(image, np.random.default_rng(5))
    assert (out > 0).all() and not np.allclose(out, 1.0)
    log_field = np.log(out)
    spread = log_field.max() - log_field.min()
    # slowly varying (a coil's field, not noise): neighbours differ by a small part of the whole spread
    assert np.abs(np.diff(log_field, axis=1)).max() < 0.35 * spread


def test_mismatched_shapes_are_refused() -> None:
    image, label = _sample()
    with pytest.raises(ValueError, match="must match"):
        augment(image, label[:-1], np.random.default_rng(0))
