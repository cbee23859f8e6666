"""The 20 whole-head label maps (SynthSeg's, Apache-2.0) as tissue-class volumes in RAS+ orientation.

A map's FreeSurfer labels (and SynthSeg's extra-cerebral 500s) are grouped into the tissue classes below;
the generator draws one intensity distribution per class and contrast. Maps are read from the original
``training_seg_*.nii.gz`` files (``../shared/data/anatomy``) or from a packed copy (`pack_anatomy`: tissue
classes as uint8, cropped to the head, ``.npz``), which is 10x smaller and is what travels to the GPU machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

log = logging.getLogger(__name__)

# Tissue classes. Brain classes first; the tumour compartments and the enhancing mimics the generator adds
# come after the anatomy's own classes.
BACKGROUND, WM, CORTEX, CEREBELLAR_GM, DEEP_GM, PALLIDUM, VENTRICLE, SULCAL_CSF, VESSEL = range(9)
EYE, SOFT_TISSUE, MUSCLE, FAT, BONE, OTHER = range(9, 15)
DURA, SINUS, CHOROID, NECROSIS, NON_ENHANCING, OEDEMA, ENHANCING = range(15, 22)
N_CLASSES = 22
CLASS_NAMES = ("background", "white matter", "cortex", "cerebellar grey matter", "deep grey matter", "pallidum",
               "ventricle", "sulcal CSF", "vessel", "eye", "soft tissue", "muscle", "fat", "bone", "other",
               "dura", "venous sinus", "choroid plexus", "necrosis / cyst", "non-enhancing tumour", "oedema",
               "enhancing tumour")

_FREESURFER_CLASSES = {
    WM: (2, 41, 7, 46, 16, 28, 60, 85),
    CORTEX: (3, 42),
    CEREBELLAR_GM: (8, 47),
    DEEP_GM: (10, 49, 11, 50, 12, 51, 17, 53, 18, 54, 26, 58, 136, 137, 163, 164),
    PALLIDUM: (13, 52),
    VENTRICLE: (4, 43, 5, 44, 14, 15, 72),
    SULCAL_CSF: (24,),
    VESSEL: (30, 62, 514),
    EYE: (506,),
    SOFT_TISSUE: (507,),
    MUSCLE: (516,),
    FAT: (509, 515),
    BONE: (511,),
    OTHER: (502, 508, 512, 530),
}
# Hemisphere of the cerebral labels (for the falx) and the cerebellum (for the tentorium).
LEFT_CEREBRUM = (2, 3, 4, 5, 10, 11, 12, 13, 17, 18, 26, 28, 30, 136, 137)
RIGHT_CEREBRUM = (41, 42, 43, 44, 49, 50, 51, 52, 53, 54, 58, 60, 62, 163, 164)
CEREBELLUM = (7, 8, 46, 47)
# Parts stored in the packed map beside the tissue class (bit flags of a second uint8 volume).
PART_LEFT, PART_RIGHT, PART_CEREBELLUM = 1, 2, 4
BRAIN_CLASSES = (WM, CORTEX, CEREBELLAR_GM, DEEP_GM, PALLIDUM, VENTRICLE)
TUMOUR_CLASSES = (NECROSIS, NON_ENHANCING, OEDEMA, ENHANCING)


@dataclass(frozen=True)
class AnatomyMap:
    """One head: tissue classes and hemisphere / cerebellum flags, uint8 (D, H, W) in RAS+, 1 mm voxels."""

    name: str
    tissue: np.ndarray
    parts: np.ndarray


def _lookup(mapping: dict[int, tuple[int, ...]], size: int = 1024) -> np.ndarray:
    table = np.full(size, OTHER, np.uint8)
    table[0] = BACKGROUND
    for value, labels in mapping.items():
        table[list(labels)] = value
    return table


TISSUE_OF_LABEL = _lookup(_FREESURFER_CLASSES)
PARTS_OF_LABEL = np.zeros(1024, np.uint8)
PARTS_OF_LABEL[list(LEFT_CEREBRUM)] = PART_LEFT
PARTS_OF_LABEL[list(RIGHT_CEREBRUM)] = PART_RIGHT
PARTS_OF_LABEL[list(CEREBELLUM)] = PART_CEREBELLUM


def _head_box(tissue: np.ndarray, margin: int = 2) -> tuple[slice, ...]:
    points = np.argwhere(tissue > 0)
    low, high = points.min(0), points.max(0) + 1
    return tuple(slice(max(0, lo - margin), min(n, hi + margin)) for lo, hi, n in zip(low, high, tissue.shape,
                                                                                     strict=True))


def read_label_map(path: Path) -> AnatomyMap:
    """A SynthSeg label map (.nii.gz) or a packed map (.npz) as an `AnatomyMap`."""
    if path.suffix == ".npz":
        with np.load(path) as packed:
            return AnatomyMap(path.stem, packed["tissue"], packed["parts"])
    image = nib.as_closest_canonical(nib.load(path))
    labels = np.asarray(image.dataobj, dtype=np.int32)
    if labels.min() < 0 or labels.max() >= TISSUE_OF_LABEL.size:
        raise ValueError(f"{path}: label values outside 0..{TISSUE_OF_LABEL.size - 1}; is this a SynthSeg label map?")
    tissue, parts = TISSUE_OF_LABEL[labels], PARTS_OF_LABEL[labels]
    box = _head_box(tissue)
    return AnatomyMap(path.name.split(".")[0], np.ascontiguousarray(tissue[box]), np.ascontiguousarray(parts[box]))


def anatomy_files(folder: str | Path) -> list[Path]:
    """The label maps of ``folder``: ``training_seg_*.nii.gz`` or packed ``*.npz``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"anatomy folder {folder} does not exist; give the folder of the SynthSeg label maps "
                         "(../shared/data/anatomy) or of their packed copies")
    files = sorted(folder.glob("*.npz")) or sorted(folder.glob("training_seg_*.nii*"))
    if not files:
        raise ValueError(f"no label maps in {folder} (expected training_seg_*.nii.gz or packed *.npz)")
    return files


def pack_anatomy(source: str | Path, out_dir: str | Path) -> list[Path]:
    """Write every label map of ``source`` as a compact ``.npz`` (tissue classes + parts, cropped) in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in anatomy_files(source):
        anatomy = read_label_map(path)
        target = out_dir / f"{anatomy.name}.npz"
        np.savez_compressed(target, tissue=anatomy.tissue, parts=anatomy.parts)
        written.append(target)
        log.info("packed %s -> %s (%d kB)", path.name, target, target.stat().st_size // 1024)
    return written
