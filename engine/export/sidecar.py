"""JSON sidecar: the provenance of an exported segmentation and its tumour volumes.

It records what went in (files or series and how each was assigned a modality), every geometric step (working
grid, rigid transforms, the inverse mapping), preprocessing (skull strip, normalisation), the model (name,
version, weights SHA-256), the export settings, and the volume of each label and BraTS region in millilitres,
measured on the native T1ce grid that the exported label map lives on, and the "measurements": the lesion
table (lesions >= 0.1 mL, small foci apart) and the RANO 2.0 measurements with slices counted from 1
(``engine.measure.measurements_record``; the viewer passes its own, with RANO corrections made by hand). The
sidecar is the companion of the NIfTI and of the DICOM-SEG export alike. ``postprocessing_record`` is the
"postprocessing" entry that ``engine.segment`` and ``engine.interactive`` add for an automatic result: the
post-processing settings and what they removed or relabelled.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine import __version__
from engine.export.atomic import write_bytes_atomic
from engine.export.dicom_seg import AlgorithmInfo
from engine.geometry import Grid
from engine.labels import LABEL_INFO, REGIONS, to_brats2020
from engine.metrics import dice
from engine.notice import CLINICAL_NOTICE

if TYPE_CHECKING:  # for the annotations only: importing engine.inference at run time would pull in torch
    from engine.inference.postprocess import PostprocessConfig, Segmentation

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
    ai_label_native: np.ndarray | None = None,
    measurements: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The sidecar's content.

    Args:
        manifest: the prepared case's provenance (``PreparedCase.manifest``).
        label_native: the exported label map on the native T1ce grid.
        native_grid: that grid.
        algorithm: model identification.
        settings: export settings (label convention, inverse mapping method, edited flag, creator).
        outputs: kind -> path of every file written by the export.
        ai_label_native: the automatic result on the same grid when ``label_native`` was edited from it; adds
            an "editing" record (AI and edited volumes, Dice per region, changed voxels).
        measurements: the "measurements" record (``engine.measure.measurements_record``) to write, e.g. the
            viewer's; default: measured on ``label_native`` (hemispheres "n/a": no image to find the midline).
    """
    sidecar = {
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
        "measurements": dict(measurements) if measurements is not None else native_measurements(label_native,
                                                                                                native_grid),
        "outputs": dict(outputs),
        "disclaimer": f"research software; {CLINICAL_NOTICE}",
    }
    if ai_label_native is not None:
        sidecar["editing"] = editing_record(ai_label_native, label_native, native_grid)
    return sidecar


def native_measurements(label: np.ndarray, grid: Grid) -> dict[str, object]:
    """The measurements record of a label map on ``grid`` (lesion table and RANO; hemispheres "n/a")."""
    from engine.measure import measure, measurements_record  # at call time: engine.measure pulls in torch

    return measurements_record(measure(to_brats2020(label), grid.spacing, affine=grid.affine), grid.affine)


def editing_record(ai_label: np.ndarray, edited_label: np.ndarray, grid: Grid) -> dict[str, object]:
    """AI vs edited volumes (mL), Dice per region (ET, TC, WT) and the number of voxels the edits changed.

    Args:
        ai_label: the automatic result (BraTS labels) on ``grid``.
        edited_label: the edited label map on ``grid``.
        grid: their grid.
    """
    if ai_label.shape != edited_label.shape:
        raise ValueError(f"AI label map {ai_label.shape} and edited one {edited_label.shape} differ in shape")
    ai, edited = to_brats2020(ai_label), to_brats2020(edited_label)
    return {
        "ai_volumes_ml": region_volumes_ml(ai, grid),
        "edited_volumes_ml": region_volumes_ml(edited, grid),
        "dice_ai_vs_edited": {name: round(dice(np.isin(ai, values), np.isin(edited, values)), 4)
                              for name, values in REGIONS.items()},
        "changed_voxels": int(np.count_nonzero(ai != edited)),
    }


def postprocessing_record(config: PostprocessConfig, result: Segmentation) -> dict[str, object]:
    """The sidecar's "postprocessing" entry: the settings used and what they changed.

    Args:
        config: the post-processing settings (threshold, min_et_ml, min_component_ml, min_et_component_ml,
            edge_oedema_mm, edge_oedema_fraction).
        result: what ``engine.inference.postprocess.postprocess`` returned with them.
    """
    return config.record() | {
        "removed_components": result.removed_components,
        "et_components_relabelled": result.et_components_relabelled,
        "et_suppressed": result.et_suppressed,
        "edge_components_removed": result.edge_components_removed,
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
