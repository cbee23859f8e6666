"""JSON sidecar: the provenance of an exported segmentation and its tumour volumes.

It records what went in (files or series and how each was assigned a modality), every geometric step (working
grid, rigid transforms, the inverse mapping), preprocessing (skull strip, normalisation), the model (name,
version, weights SHA-256), the export settings, and the volume of each label and BraTS region in millilitres,
measured on the native T1ce grid that the exported label map lives on.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging
import platform
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from engine import __version__
from engine.export.atomic import write_bytes_atomic
from engine.export.dicom_seg import AlgorithmInfo
from engine.geometry import Grid
from engine.labels import LABEL_INFO, REGIONS, to_brats2020

log = logging.getLogger(__name__)

SIDECAR_FORMAT = "revseg-segmentation-sidecar/1"
_PACKAGES = ("numpy", "nibabel", "SimpleITK", "pydicom", "highdicom", "torch")


def region_volumes_ml(label: np.ndarray, grid: Grid) -> dict[str, float]:
    """Volume of each label (NCR, ED, ET) and region (ET, TC, WT) in mL.

    Args:
        label: BraTS label map (either convention) on ``grid``.
        grid: its grid, for the voxel volume.
    """
    label = to_brats2020(label)
    voxel_ml = grid.voxel_volume_ml
    volumes = {f"label_{info.short}": int(np.count_nonzero(label == value)) * voxel_ml for value, info in LABEL_INFO.items()}
    volumes |= {name: int(np.count_nonzero(np.isin(label, values))) * voxel_ml for name, values in REGIONS.items()}
    return {name: round(value, 3) for name, value in volumes.items()}


def _software() -> dict[str, object]:
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"name": "RevSeg", "version": __version__, "python": platform.python_version(), "packages": versions}


def build_sidecar(
    manifest: Mapping[str, object],
    label_native: np.ndarray,
    native_grid: Grid,
    *,
    algorithm: AlgorithmInfo,
    settings: Mapping[str, object],
    outputs: Mapping[str, str],
) -> dict[str, object]:
    """The sidecar's content.

    Args:
        manifest: the prepared case's provenance (``PreparedCase.manifest``).
        label_native: the exported label map on the native T1ce grid.
        native_grid: that grid.
        algorithm: model identification.
        settings: export settings (label convention, inverse mapping method, edited flag, creator).
        outputs: kind -> path of every file written by the export.
    """
    return {
        "format": SIDECAR_FORMAT,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "software": _software(),
        "case_id": manifest.get("case_id"),
        "inputs": manifest.get("inputs"),
        "geometry": manifest.get("geometry"),
        "transforms": manifest.get("registration"),
        "preprocessing": {k: manifest.get(k) for k in ("skull_strip", "normalisation", "config")},
        "model": {"name": algorithm.name, "version": algorithm.version, "weights_file": algorithm.weights_name or None,
                  "weights_sha256": algorithm.weights_sha256 or None},
        "settings": dict(settings),
        "volumes_ml": region_volumes_ml(label_native, native_grid),
        "outputs": dict(outputs),
        "disclaimer": "research software; NOT FOR CLINICAL USE",
    }


def write_sidecar(path: str | Path, sidecar: Mapping[str, object], force: bool = False) -> Path:
    """Write the sidecar as indented JSON, atomically.

    Args:
        path: output .json file.
        sidecar: from ``build_sidecar``.
        force: replace an existing file.
    """
    written = write_bytes_atomic(path, (json.dumps(sidecar, indent=2) + "\n").encode("utf-8"), force)
    log.info("wrote sidecar %s", written)
    return written
