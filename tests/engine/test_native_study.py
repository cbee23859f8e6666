"""The native-like studies of the time-to-result benchmark: each contrast on its own thick-slice rotated grid,
and with the skull put back, a head that prepare_case must strip."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from engine.bench.native_study import NATIVE_SPACING_MM, native_like_study, simulated_head
from engine.case import find_case_files
from engine.geometry import Grid
from engine.preprocess.skullstrip import detect_skull_stripped
from tests.engine.synthetic_cases import LPS_AXES, grid_from, head, write_nifti

ROLES = ("t1", "t1ce", "t2", "flair")
SOURCE = grid_from((70, 80, 64), (1, 1, 1), LPS_AXES)
SCALE = 1.4  # a 48 x 59 x 42 mm brain: room for the 12 mm of CSF, skull and scalp in most directions


def stripped_source(folder: Path) -> Path:
    for role in ROLES:
        write_nifti(folder / f"S_{role}.nii.gz", head(SOURCE, role, scale=SCALE), SOURCE)
    return folder


def native_images(folder: Path) -> dict[str, nib.Nifti1Image]:
    return {role: nib.load(path) for role, path in find_case_files(folder).items()}


@pytest.mark.parametrize("skull", [False, True])
def test_each_contrast_lies_on_its_own_thick_slice_grid(tmp_path: Path, skull: bool) -> None:
    images = native_images(native_like_study(stripped_source(tmp_path / "src"), tmp_path / "native", skull=skull))
    assert sorted(images) == sorted(ROLES)
    affines = [image.affine for image in images.values()]
    assert all(not np.allclose(a, b) for i, a in enumerate(affines) for b in affines[i + 1:])
    for role, image in images.items():
        assert np.allclose(image.header.get_zooms(), NATIVE_SPACING_MM), role
        check = detect_skull_stripped(np.asarray(image.dataobj), Grid(image.shape, image.affine))
        assert check.stripped is not skull, (role, check.reason)


def test_the_simulated_head_has_contrast_specific_layers_and_keeps_the_brain() -> None:
    brain_image = head(SOURCE, "t2", scale=SCALE)
    brain = brain_image > 0
    t2 = simulated_head(brain_image, brain, "t2", noise_fraction=0.0)
    t1 = simulated_head(head(SOURCE, "t1", scale=SCALE), brain, "t1", noise_fraction=0.0)
    assert np.array_equal(t2[brain], brain_image[brain])
    distance = ndimage.distance_transform_edt(~brain)
    csf, skull, scalp = (distance > 0) & (distance <= 2), (distance > 3) & (distance <= 7), (distance > 8) & (distance <= 12)
    for image, brightest in ((t1, scalp), (t2, csf)):  # fat bright on T1, CSF bright on T2; bone dark on both
        levels = {name: float(np.median(image[mask])) for name, mask in (("csf", csf), ("skull", skull), ("scalp", scalp))}
        assert max(levels, key=levels.get) == ("scalp" if brightest is scalp else "csf"), levels
        assert min(levels, key=levels.get) == "skull", levels
    noisy = simulated_head(brain_image, brain, "t2", seed=1)
    assert (noisy[distance > 12] > 0).mean() > 0.99  # air is noise, as in a magnitude image


def test_the_simulated_head_refuses_what_it_cannot_wrap() -> None:
    data = head(SOURCE, "t1", scale=SCALE)
    with pytest.raises(ValueError, match="contrast must be one of"):
        simulated_head(data, data > 0, "dwi")
    with pytest.raises(ValueError, match="the brain mask is empty"):
        simulated_head(data, np.zeros(data.shape, bool), "t1")
