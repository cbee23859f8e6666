"""Find the labelled cases of a folder and the reference label map of each.

Layouts accepted (see docs/evaluation.md):

* BraTS 2020/2021: ``DIR/CASE/CASE_t1.nii.gz ... CASE_seg.nii.gz`` (labels 0/1/2/4);
* BraTS 2023: ``DIR/CASE/CASE-t1n.nii.gz ... CASE-seg.nii.gz`` (labels 0/1/2/3);
* a case folder with a ``reference/`` sub-folder of one or more label maps (``reference/NAME.nii.gz``);
* ``DIR`` itself being one case folder.

The reference of a case is, in order: the first ``reference/NAME.nii.gz`` among the names asked for, the case's
own ``_seg`` / ``-seg`` file, the only file of ``reference/``. Several files in ``reference/`` and no name that
picks one is an error (a silent choice would make two runs incomparable).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from engine.case import SEGMENTATION, modality_of
from engine.io.nifti_input import is_nifti_name, nifti_stem

log = logging.getLogger(__name__)

REFERENCE_FOLDER = "reference"
OWN_LABEL = "seg"  # reference_name of a case's own ``_seg`` / ``-seg`` file


@dataclass(frozen=True)
class EvaluationCase:
    """One case folder and the reference label map chosen for it.

    Attributes:
        name: the folder's name (predictions are ``<name>.nii.gz``).
        folder: the case folder.
        reference: the reference label map, or None when the case has none (it is skipped).
        reference_name: ``"seg"`` for the case's own label file, else the stem of the ``reference/`` file.
    """

    name: str
    folder: Path
    reference: Path | None
    reference_name: str | None


def parse_reference_names(text: str | None) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``: reference names in order of preference (empty for None)."""
    if not text:
        return ()
    names = tuple(n.strip().removesuffix(".gz").removesuffix(".nii") for n in text.split(",") if n.strip())
    if not names:
        raise ValueError(f"--reference {text!r} names no reference; give NAME for reference/NAME.nii.gz")
    return names


def is_case_folder(folder: Path) -> bool:
    """True when ``folder`` holds contrast or label NIfTI files, or a ``reference/`` folder."""
    if (folder / REFERENCE_FOLDER).is_dir():
        return True
    return any(modality_of(p) is not None for p in folder.iterdir() if p.is_file())


def case_folders(data: Path) -> list[Path]:
    """The case folders of ``data``: ``data`` itself when it is one, else its case sub-folders (sorted).

    Raises:
        ValueError: ``data`` is not a folder or holds no case folder.
    """
    if not data.is_dir():
        raise ValueError(f"--data {data} is not a folder; give a case folder or a folder of case folders")
    if is_case_folder(data):
        return [data]
    folders = sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith(".") and is_case_folder(p))
    if not folders:
        raise ValueError(f"{data} holds no case folders: expected sub-folders with NIfTI files named like "
                         "CASE_t1ce.nii.gz / CASE-t1c.nii.gz, a CASE_seg.nii.gz or a reference/ folder")
    return folders


def reference_files(folder: Path) -> dict[str, Path]:
    """Stem -> file of the NIfTI label maps in ``folder/reference`` (empty without that folder)."""
    references = folder / REFERENCE_FOLDER
    if not references.is_dir():
        return {}
    return {nifti_stem(p): p for p in sorted(references.iterdir()) if p.is_file() and is_nifti_name(p)}


def own_label_file(folder: Path) -> Path | None:
    """The case's own label map (``CASE_seg.nii.gz``, ``CASE-seg.nii.gz`` ...), or None.

    Raises:
        ValueError: two files claim to be the label map.
    """
    labels = [p for p in sorted(folder.iterdir()) if p.is_file() and modality_of(p) == SEGMENTATION]
    if len(labels) > 1:
        raise ValueError(f"{folder} holds several label maps ({', '.join(p.name for p in labels)}); keep one, "
                         "or put alternatives in reference/ and choose with --reference NAME")
    return labels[0] if labels else None


def choose_reference(folder: Path, names: tuple[str, ...] = ()) -> tuple[Path | None, str | None]:
    """The reference label map of one case folder and its name (see the module docstring for the order).

    Args:
        folder: the case folder.
        names: ``--reference`` names in order of preference (``reference/NAME.nii.gz``).

    Raises:
        ValueError: several ``reference/`` files and nothing that chooses one.
    """
    available = reference_files(folder)
    for name in names:
        if name in available:
            return available[name], name
    own = own_label_file(folder)
    if own is not None:
        return own, OWN_LABEL
    if not available:
        return None, None
    if len(available) == 1 and not names:
        name, path = next(iter(available.items()))
        return path, name
    listed = ", ".join(available)
    if names:
        raise ValueError(f"{folder.name}: no reference/{' or '.join(names)}.nii.gz; this case has: {listed} "
                         "(--reference takes several names, comma-separated, first found wins)")
    raise ValueError(f"{folder.name} has several references ({listed}); choose one with --reference NAME")


def discover_cases(data: str | Path, names: tuple[str, ...] = ()) -> list[EvaluationCase]:
    """Every case under ``data`` with its chosen reference (None for a case that has none).

    Args:
        data: a case folder or a folder of case folders.
        names: ``--reference`` names in order of preference.

    Raises:
        ValueError: no case folder, or a case whose reference is ambiguous.
    """
    cases = []
    for folder in case_folders(Path(data)):
        reference, name = choose_reference(folder, names)
        cases.append(EvaluationCase(folder.name, folder, reference, name))
        log.info("case %s: reference %s", folder.name, reference or "none")
    return cases
