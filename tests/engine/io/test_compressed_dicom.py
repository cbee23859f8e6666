"""Compressed DICOM as PACS send it: RLE, JPEG-LS, JPEG 2000, JPEG lossless and lossy JPEG decode (issue 15).

The compressed series are made at test time with pydicom's own encoders (``Dataset.compress``: RLE natively,
JPEG-LS through pyjpegls, JPEG 2000 through pylibjpeg-openjpeg) and, for the JPEG processes pydicom cannot
encode (lossless process 14, baseline, extended), with DCMTK's dcmcjpeg when it is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

import main
from engine.io import read_dicom_series, scan_dicom_folder
from tests.engine.synthetic_cases import LPS_AXES, grid_from, write_dicom_study

T1CE_SERIES = "series3"
# name -> pydicom encoder UID, or dcmcjpeg option
LOSSLESS = {"rle": RLELossless, "jpeg-ls": JPEGLSLossless, "jpeg2000": JPEG2000Lossless,
            "jpeg-lossless-sv1": "+e1", "jpeg-lossless": "+el"}
LOSSY = {"jpeg-baseline": "+eb", "jpeg-extended": "+ee"}


def compress_series(series: Path, how: object) -> None:
    """Compress every file of ``series`` in place."""
    for path in sorted(series.iterdir()):
        if str(how).startswith("+"):  # a dcmcjpeg option (a pydicom UID is a str too)
            if shutil.which("dcmcjpeg") is None:
                pytest.skip("dcmcjpeg (DCMTK) is not installed; pydicom has no encoder for this JPEG process")
            temporary = path.with_name(path.name + ".jpg.dcm")
            subprocess.run(["dcmcjpeg", how, str(path), str(temporary)], check=True, capture_output=True)
            temporary.replace(path)
        else:
            ds = pydicom.dcmread(path)
            ds.compress(how)
            ds.save_as(path, enforce_file_format=False)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plain") / "study"
    write_dicom_study(folder, grid_from((40, 44, 36), (1, 1, 1), LPS_AXES), non_mr=False)
    return folder


def compressed_copy(study: Path, folder: Path, how: object) -> Path:
    copy = shutil.copytree(study, folder)
    compress_series(copy / T1CE_SERIES, how)
    return copy


def t1ce_volume(study: Path) -> np.ndarray:
    series = next(s for s in scan_dicom_folder(study) if s.files[0].parent.name == T1CE_SERIES)
    return read_dicom_series(series, "t1ce").data


@pytest.mark.parametrize("name", sorted(LOSSLESS))
def test_lossless_series_reads_exactly_like_its_uncompressed_twin(study: Path, tmp_path: Path, name: str) -> None:
    copy = compressed_copy(study, tmp_path / "study", LOSSLESS[name])
    syntax = pydicom.dcmread(next((copy / T1CE_SERIES).iterdir()), stop_before_pixels=True).file_meta.TransferSyntaxUID
    assert syntax.is_compressed
    np.testing.assert_array_equal(t1ce_volume(copy), t1ce_volume(study))


@pytest.mark.parametrize("name", sorted(LOSSY))
def test_lossy_jpeg_series_reads_close_to_its_twin(study: Path, tmp_path: Path, name: str) -> None:
    copy = compressed_copy(study, tmp_path / "study", LOSSY[name])
    plain, lossy = t1ce_volume(study), t1ce_volume(copy)
    assert lossy.shape == plain.shape
    assert np.corrcoef(plain.ravel(), lossy.ravel())[0, 1] > 0.98


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / float(total)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.engine.inference.helpers import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("weights") / "tiny.safetensors")


def segment(study: Path, out: Path, weights: Path) -> np.ndarray:
    code = main.main(["segment", str(study), "-o", str(out), "--weights", str(weights), "--device", "cpu",
                      "--tile", "32"])
    assert code == 0
    return np.asarray(nib.load(str(out)).dataobj)


@pytest.mark.parametrize("name", ["jpeg2000", "jpeg-ls", "jpeg-lossless-sv1"])
def test_lossless_t1ce_segments_to_the_same_label_map(study: Path, tmp_path: Path, weights: Path, name: str) -> None:
    reference = segment(study, tmp_path / "plain" / "seg.nii.gz", weights)
    labels = segment(compressed_copy(study, tmp_path / "study", LOSSLESS[name]), tmp_path / "c" / "seg.nii.gz", weights)
    for region in ((4,), (1, 4), (1, 2, 4)):
        assert dice(np.isin(labels, region), np.isin(reference, region)) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(labels, reference)
