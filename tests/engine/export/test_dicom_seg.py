"""A DICOM series in, a DICOM-SEG out, checked by independent tools: dciodvfy (no Error line), dcmqi's
segimage2itkimage (converts it back to exactly our mask on the source grid), and highdicom (reads it back)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
import pytest

from engine.export import AlgorithmInfo, ExportSettings, export_segmentation
from engine.geometry import Grid, axis_mapping, resample_labels
from engine.io import read_dicom_series, scan_dicom_folder
from engine.labels import EDEMA, ENHANCING, NECROSIS
from engine.prepare import prepare_case
from tests.engine.synthetic_cases import (
    LPS_AXES,
    OBLIQUE_AXES,
    grid_from,
    tumour_labels,
    write_dicom_study,
    write_nifti_case,
)

SHA = "0123456789abcdef" * 4
DCIODVFY = shutil.which("dciodvfy")
SEGIMAGE2ITKIMAGE = shutil.which("segimage2itkimage", path=str(Path(sys.executable).parent))


def dciodvfy_errors(path: Path) -> list[str]:
    if DCIODVFY is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools)")
    result = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


def dcmqi_segments(seg: Path, out: Path) -> dict[int, tuple[np.ndarray, Grid]]:
    if SEGIMAGE2ITKIMAGE is None:
        pytest.skip("dcmqi's segimage2itkimage not installed (pip install dcmqi)")
    out.mkdir()
    subprocess.run([SEGIMAGE2ITKIMAGE, "--inputDICOM", str(seg), "--outputDirectory", str(out), "-t", "nifti"],
                   check=True, capture_output=True, timeout=120)
    images = {int(p.name.split(".")[0]): nib.load(p) for p in out.glob("*.nii.gz")}
    return {n: (np.asarray(im.dataobj), Grid(im.shape, im.affine)) for n, im in images.items()}


@pytest.fixture(scope="module")
def dicom_export(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("dicom")
    grid = grid_from((44, 52, 9), (0.9, 0.9, 5.5), OBLIQUE_AXES)
    folders = write_dicom_study(root / "study", grid)
    prepared = prepare_case(root / "study", root / "prepared")
    label = tumour_labels(prepared.space.grid)
    settings = ExportSettings(algorithm=AlgorithmInfo(weights_sha256=SHA, weights_name="demo.safetensors"),
                              creator="Doe^Jane")
    result = export_segmentation(prepared, label, root / "export", settings)
    source = read_dicom_series(scan_dicom_folder(folders["t1ce"])[0], "t1ce")
    return root, result, source


def test_seg_passes_dciodvfy(dicom_export) -> None:
    _, result, _ = dicom_export
    assert dciodvfy_errors(result.files["dicom-seg"]) == []


def test_dcmqi_reads_back_our_mask_on_the_source_grid(dicom_export) -> None:
    root, result, source = dicom_export
    segments = dcmqi_segments(result.files["dicom-seg"], root / "dcmqi")
    assert set(segments) == {1, 2, 3}
    for number, value in ((1, NECROSIS), (2, EDEMA), (3, ENHANCING)):
        data, grid = segments[number]
        assert axis_mapping(grid, source.grid) is not None  # dcmqi's grid is the source grid, up to axis order
        on_source = resample_labels(data.astype(np.uint8), grid, source.grid, "nearest")
        expected = result.label_native == value
        assert expected.any()
        assert np.array_equal(on_source > 0, expected)


def test_highdicom_reads_back_codes_colours_algorithm_and_frames(dicom_export) -> None:
    _, result, source = dicom_export
    seg = hd.seg.segread(result.files["dicom-seg"])
    assert seg.number_of_segments == 3
    assert int(seg.NumberOfFrames) == 3 * source.grid.shape[2]  # empty frames kept
    expected = {1: ("6574001", "SCT"), 2: ("79654002", "SCT"), 3: ("C113842", "NCIt")}
    for number, (code, scheme) in expected.items():
        description = seg.get_segment_description(number)
        assert (description.segmented_property_type.value, description.segmented_property_type.scheme_designator) == (code, scheme)
        assert description.segmented_property_category.value == "49755003"
        assert description.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        assert description.algorithm_identification[0].AlgorithmName == "RevSeg"
        assert SHA in str(description.algorithm_identification[0].AlgorithmParameters)
        assert "RecommendedDisplayCIELabValue" in description
    assert str(seg.ContentCreatorName) == "Doe^Jane"
    referenced = {ds.SOPInstanceUID for ds in source.dicom_headers}
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.source.series_uid
    assert {item.ReferencedSOPInstanceUID for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence} == referenced
    assert seg.FrameOfReferenceUID == source.dicom_headers[0].FrameOfReferenceUID
    # Pixel content, frame by frame against the source instances.
    volume = seg.get_volume(combine_segments=True, relabel=True)
    assert volume.spatial_shape[0] == source.grid.shape[2]


def test_edited_segmentation_is_semiautomatic(dicom_export, tmp_path: Path) -> None:
    root, _, _ = dicom_export
    from engine.prepared import load_prepared

    prepared = load_prepared(root / "prepared")
    label = tumour_labels(prepared.space.grid)
    result = export_segmentation(prepared, label, tmp_path, ExportSettings(formats=("dicom-seg",), edited=True))
    description = hd.seg.segread(result.files["dicom-seg"]).get_segment_description(1)
    assert description.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC


@pytest.mark.parametrize("axes", [LPS_AXES, np.diag([-1.0, 1.0, 1.0])], ids=["LPS", "LAS_left_handed"])
def test_nifti_input_gets_a_dicom_twin_that_the_seg_references(tmp_path: Path, axes: np.ndarray) -> None:
    grid = grid_from((44, 52, 9), (0.9, 0.9, 5.5), axes)
    write_nifti_case(tmp_path / "in", {m: grid for m in ("t1", "t1ce", "t2", "flair")})
    prepared = prepare_case(tmp_path / "in", tmp_path / "prepared")
    result = export_segmentation(prepared, tumour_labels(prepared.space.grid), tmp_path / "out")
    twin_folder = result.files["t1ce-dicom"]
    twin = read_dicom_series(scan_dicom_folder(twin_folder)[0], "t1ce")
    assert dciodvfy_errors(sorted(twin_folder.iterdir())[0]) == []
    assert dciodvfy_errors(result.files["dicom-seg"]) == []
    assert "DERIVED" in pydicom.dcmread(sorted(twin_folder.iterdir())[0]).ImageType
    seg = hd.seg.segread(result.files["dicom-seg"])
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == twin.source.series_uid
    # dcmqi places the mask on the twin's grid, which is the NIfTI T1ce's grid: compare with the NIfTI export.
    nifti = nib.load(result.files["nifti"])
    nifti_label = np.asarray(nifti.dataobj)
    for number, value in ((2, EDEMA), (3, ENHANCING)):
        data, seg_grid = dcmqi_segments(result.files["dicom-seg"], tmp_path / f"dcmqi{number}")[number]
        on_nifti_grid = resample_labels(data.astype(np.uint8), seg_grid, Grid(nifti.shape, nifti.affine), "nearest")
        assert np.array_equal(on_nifti_grid > 0, nifti_label == value)
