"""The role a NIfTI file's name announces: one of the four contrasts, the label map, or none.

Kept apart from engine.case and engine.io.nifti_input so that both can use it without importing each other.
"""

from __future__ import annotations

import re
from pathlib import Path

SEGMENTATION = "seg"

# Last name token (after splitting on "_", "-" and ".") -> role.
TOKEN_TO_ROLE = {
    "t1": "t1", "t1n": "t1", "t1w": "t1", "t1native": "t1",
    "t1ce": "t1ce", "t1c": "t1ce", "t1gd": "t1ce", "t1post": "t1ce", "t1contrast": "t1ce",
    "t2": "t2", "t2w": "t2",
    "flair": "flair", "t2f": "flair", "fla": "flair", "t2flair": "flair",
    "seg": SEGMENTATION, "label": SEGMENTATION, "labels": SEGMENTATION, "mask": SEGMENTATION,
}
NIFTI_SUFFIXES = (".nii.gz", ".nii")


def modality_of(path: Path) -> str | None:
    """The role (modality or ``"seg"``) a NIfTI file name announces, or None when it names none."""
    name = Path(path).name.lower()
    stem = next((name[: -len(s)] for s in NIFTI_SUFFIXES if name.endswith(s)), None)
    if stem is None:
        return None
    tokens = [t for t in re.split(r"[_\-. ]", stem) if t]
    return TOKEN_TO_ROLE.get(tokens[-1]) if tokens else None
