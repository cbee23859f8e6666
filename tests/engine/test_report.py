"""Report content: identifiers, measurements, key slices in display orientation, notices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.case import Case, Volume
from engine.measure import measure
from engine.report import DEMO_NOTICE, RESEARCH_NOTICE, ModelInfo, build_report, provenance_rows

SHAPE = (30, 26, 12)
SPACING = (1.0, 1.5, 3.0)


def make_case(label: np.ndarray | None = None) -> tuple[Case, np.ndarray]:
    """A tiny case with a tumour; also used by the GUI report tests."""
    affine = np.diag([*SPACING, 1.0])
    i, j, k = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    volumes = {m: Volume(m, (50.0 + 10 * n + i + 2 * j + k).astype(np.float32), affine, Path(f"/data/C7_{m}.nii.gz"))
               for n, m in enumerate(("t1", "t1ce", "t2", "flair"))}
    if label is None:
        label = np.zeros(SHAPE, np.uint8)
        distance = ((i - 10) / 7.0) ** 2 + ((j - 15) / 5.0) ** 2 + ((k - 6) / 3.0) ** 2
        label[distance < 1.0] = 2
        label[distance < 0.5] = 4
        label[distance < 0.1] = 1
    return Case("C7", Path("/data/C7"), volumes, label, affine), label


def test_report_holds_identifiers_measurements_and_model():
    case, label = make_case()
    model = ModelInfo("RevSeg", "revseg-demo.safetensors", "ab" * 32, demo=True)
    content = build_report(case, label, model=model, edited=True, extra_identifiers={"Patient ID": "P-1"})
    assert content.identifiers["Case"] == "C7" and content.identifiers["Patient ID"] == "P-1"
    assert content.identifiers["T1CE file"] == "C7_t1ce.nii.gz"
    assert content.measurements == measure(label, SPACING, affine=case.affine, image=case.reference.data)
    assert content.notices == (DEMO_NOTICE, RESEARCH_NOTICE)
    rows = dict(provenance_rows(content))
    assert rows["Weights SHA-256"] == "ab" * 32 and rows["Segmentation"].startswith("edited")
    assert dict(content.rows)["Lesions (>= 0.1 mL)"] == "1"
    assert content.lesion_rows[0][0] == f"Lesion 1 (left, slice {content.measurements.table.lesions[0].centre_slice})"


def test_key_slice_is_the_rano_slice_in_display_orientation():
    case, label = make_case()
    content = build_report(case, label)
    rano = content.measurements.bidimensional
    first = content.key_slices[0]
    assert first.index == rano.slice_index
    assert first.image.shape == first.label.shape == (SHAPE[1], SHAPE[0])  # rows = anterior..posterior
    x, y, z = rano.longest_ends[0]
    row, column = SHAPE[1] - 1 - y, SHAPE[0] - 1 - x  # anterior at the top, patient right on the left
    assert first.label[row, column] == 4
    assert first.image[row, column] == case.volumes["t1ce"].data[x, y, z]
    assert first.lines[0][0] == (float(row), float(column))
    assert first.pixel_mm == (SPACING[1], SPACING[0])
    assert len(content.key_slices) == 1 + (content.measurements.max_tumour_slice != rano.slice_index)


def test_no_tumour_and_bad_input():
    empty = np.zeros(SHAPE, np.uint8)
    case, _ = make_case(empty)
    content = build_report(case, empty)
    assert content.measurements.bidimensional is None and content.notices == (RESEARCH_NOTICE,)
    assert content.key_slices[0].index == SHAPE[2] // 2 and not content.key_slices[0].label.any()
    with pytest.raises(ValueError, match="shape"):
        build_report(case, empty[:5])
    with pytest.raises(ValueError, match="no 'dwi' volume"):
        build_report(case, empty, modality="dwi")
