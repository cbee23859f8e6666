"""Exports of an edited segmentation: SEMIAUTOMATIC segments and the AI-vs-edited record in the sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from engine.export import ExportSettings, export_segmentation
from engine.export.sidecar import editing_record
from engine.geometry import Grid
from engine.metrics import dice
from engine.prepare import prepare_case
from tests.engine.synthetic_cases import LPS_AXES, grid_from, tumour_labels, write_nifti_case

NATIVE = grid_from((52, 50, 9), (0.9, 0.9, 5.5), LPS_AXES)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("edited_case")
    write_nifti_case(root / "in", {m: NATIVE for m in ("t1", "t1ce", "t2", "flair")})
    return prepare_case(root / "in", root / "prepared")


def _edited(ai: np.ndarray) -> np.ndarray:
    edited = ai.copy()
    edited[edited == 2] = 0  # the reader removed the oedema
    return edited


def test_edited_export_is_semiautomatic_and_records_ai_vs_edited(prepared, tmp_path: Path) -> None:
    ai = tumour_labels(prepared.space.grid)
    result = export_segmentation(prepared, _edited(ai), tmp_path, ExportSettings(), ai_label_working=ai)
    sidecar = json.loads(result.files["json"].read_text())
    assert sidecar["settings"]["edited"] is True
    assert sidecar["settings"]["segment_algorithm_type"] == "SEMIAUTOMATIC"
    editing = sidecar["editing"]
    assert editing["edited_volumes_ml"] == sidecar["volumes_ml"]
    assert editing["ai_volumes_ml"]["WT"] > editing["edited_volumes_ml"]["WT"] == editing["edited_volumes_ml"]["TC"]
    assert editing["dice_ai_vs_edited"]["ET"] == 1.0 and editing["dice_ai_vs_edited"]["TC"] == 1.0
    assert 0.0 < editing["dice_ai_vs_edited"]["WT"] < 1.0
    assert editing["changed_voxels"] > 0
    seg = pydicom.dcmread(result.files["dicom-seg"])
    assert {str(item.SegmentAlgorithmType) for item in seg.SegmentSequence} == {"SEMIAUTOMATIC"}


def test_unchanged_ai_result_stays_automatic(prepared, tmp_path: Path) -> None:
    ai = tumour_labels(prepared.space.grid)
    result = export_segmentation(prepared, ai, tmp_path, ExportSettings(formats=("nifti", "json")),
                                 ai_label_working=ai.copy())
    sidecar = json.loads(result.files["json"].read_text())
    assert sidecar["settings"]["segment_algorithm_type"] == "AUTOMATIC"
    assert sidecar["editing"]["changed_voxels"] == 0
    assert set(sidecar["editing"]["dice_ai_vs_edited"].values()) == {1.0}


def test_editing_record_matches_metrics_dice() -> None:
    grid = Grid((10, 10, 4), np.diag([2.0, 2.0, 3.0, 1.0]))
    ai = np.zeros(grid.shape, np.uint8)
    ai[2:8, 2:8, 1:3] = 2
    ai[4:6, 4:6, 1:3] = 4
    edited = ai.copy()
    edited[2:4, 2:8, 1:3] = 0
    record = editing_record(ai, edited, grid)
    assert record["dice_ai_vs_edited"]["WT"] == round(dice(ai > 0, edited > 0), 4)
    assert record["changed_voxels"] == int(np.count_nonzero(ai != edited)) == 24
    assert record["ai_volumes_ml"]["WT"] == round(72 * 0.012, 3)
    with pytest.raises(ValueError, match="shape"):
        editing_record(ai, edited[:5], grid)
