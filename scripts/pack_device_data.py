"""Pack the data a GPU run needs into PACK_DIR (default .pack/, git-ignored) so it fits the device call's 64 MiB:

* ``anatomy/``: the 20 SynthSeg label maps as tissue classes, uint8, cropped to the head (`trainer.synth.pack_anatomy`);
* ``real/CASE/``: each labelled real case cropped to its brain's box (BraTS 2020 names, contrasts in their stored dtype, the
  chosen reference as ``CASE_seg.nii.gz`` in 2020 labels). Cropping to the non-zero box of skull-stripped data
  loses no brain voxel, so a model's Dice on the crop equals its Dice on the whole volume.

    python scripts/pack_device_data.py [--shared ../shared/data] [--out .pack]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import nibabel as nib
import numpy as np

from engine.case import find_case_files
from engine.labels import to_brats2020
from trainer.synth import pack_anatomy

# The labelled real cases and the reference each one is scored (and trained) against.
REAL_CASES = {"BraTS-GLI-00000-000": "seg", "TCGA-DU-7294": "fusion-simple", "BraTS-GLI-00001-000": "brats23-winner"}
NAMES = {"t1": "t1", "t1ce": "t1ce", "t2": "t2", "flair": "flair"}


def _crop_box(volumes: list[np.ndarray], margin: int = 2) -> tuple[slice, ...]:
    nonzero = np.zeros(volumes[0].shape, bool)
    for data in volumes:
        nonzero |= data != 0
    points = np.argwhere(nonzero)
    low, high = points.min(0), points.max(0) + 1
    return tuple(slice(max(0, lo - margin), min(n, hi + margin)) for lo, hi, n in zip(low, high, nonzero.shape,
                                                                                     strict=True))


def _save(data: np.ndarray, affine: np.ndarray, path: Path) -> None:
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, path)


def pack_case(folder: Path, reference: str, out_dir: Path) -> Path:
    roles = find_case_files(folder)
    label_path = roles["seg"] if reference == "seg" else folder / "reference" / f"{reference}.nii.gz"
    first = nib.load(roles["t1ce"])
    volumes = {m: np.asarray(nib.load(roles[m]).dataobj) for m in NAMES}  # stored dtype (int16 in BraTS)
    box = _crop_box(list(volumes.values()))
    affine = first.affine.copy()
    affine[:3, 3] = first.affine[:3, :3] @ np.array([s.start for s in box]) + first.affine[:3, 3]
    target = out_dir / folder.name
    target.mkdir(parents=True, exist_ok=True)
    for modality, data in volumes.items():
        _save(data[box], affine, target / f"{folder.name}_{NAMES[modality]}.nii.gz")
    label = to_brats2020(np.asarray(nib.load(label_path).dataobj).round().astype(np.uint8))
    if (label[tuple(slice(None) for _ in box)] > 0).sum() != (label[box] > 0).sum():
        raise ValueError(f"{folder.name}: the crop would cut tumour voxels")
    _save(label[box], affine, target / f"{folder.name}_seg.nii.gz")
    (target / "reference.txt").write_text(f"{reference}\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path(".pack"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pack_anatomy(args.shared / "anatomy", args.out / "anatomy")
    for name, reference in REAL_CASES.items():
        print(pack_case(args.shared / "real" / name, reference, args.out / "real"))


if __name__ == "__main__":
    main()
