"""The sidecar (the companion of the NIfTI and the DICOM-SEG exports) carries the lesion table and RANO."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.export import ExportSettings, export_segmentation
from engine.geometry import Grid
from engine.measure import measure, measurements_record
from engine.prepare import prepare_case
from tests.engine.synthetic_cases import LPS_AXES, grid_from, tumour_labels, write_nifti_case

NATIVE = grid_from((52, 50, 9), (0.9, 0.9, 5.5), LPS_AXES)  # as in test_exports: holds the brain and tumour


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("nifti_case")
    write_nifti_case(root / "in", {m: NATIVE for m in ("t1", "t1ce", "t2", "flair")})
    return prepare_case(root / "in", root / "prepared")


def test_sidecar_measurements_default_to_the_exported_label_map(prepared, tmp_path: Path) -> None:
    label = tumour_labels(prepared.space.grid)
    result = export_segmentation(prepared, label, tmp_path, ExportSettings(formats=("nifti", "json")))
    record = json.loads(result.files["json"].read_text())["measurements"]
    grid: Grid = prepared.space.native
    expected = measure(result.label_native, grid.spacing, affine=grid.affine)
    assert record["lesion_count"] == expected.lesions == len(record["lesions"]) >= 1
    assert record["small_foci"]["count"] == expected.table.small_foci and record["min_lesion_volume_ml"] == 0.1
    first = record["lesions"][0]
    assert first["volumes_ml"]["total"] == expected.table.lesions[0].volumes_ml["total"]
    assert first["centre"]["axial_slice"] == first["centre"]["voxel"][2] + 1  # slices counted from 1
    centre_ras = grid.affine @ np.array([*first["centre"]["voxel"], 1.0])
    assert first["centre"]["ras_mm"] == [round(float(v), 2) for v in centre_ras[:3]]
    assert first["hemisphere"] == "n/a" and first["lobe"] == "n/a"  # no image to find the midline here
    if first["rano"] is not None:
        assert first["rano"]["measurable"] == (first["rano"]["longest_mm"] >= 10 and first["rano"]["perpendicular_mm"] >= 10)


def test_sidecar_takes_the_viewers_measurements(prepared, tmp_path: Path) -> None:
    label = tumour_labels(prepared.space.grid)
    viewer = measurements_record(measure(label, prepared.space.grid.spacing), grid="the viewer's grid")
    result = export_segmentation(prepared, label, tmp_path, ExportSettings(formats=("nifti", "json")),
                                 measurements=viewer)
    assert json.loads(result.files["json"].read_text())["measurements"] == json.loads(json.dumps(viewer))
