"""End to end against a real Orthanc: a generated MR study is found, retrieved three ways, segmented, and the
DICOM-SEG goes back (C-STORE and STOW-RS), is listed under the same study and reads back with highdicom."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import requests

from engine.dicomnet import (
    FindQuery,
    ReceiverConfig,
    StorageReceiver,
    StudyDatabase,
    echo,
    find,
    get_study,
    move_study,
    qido,
    send_files,
    stow,
    wado_study,
)
from engine.export.dicom_seg import segment_frames
from engine.io import scan_dicom_folder
from engine.io.dicom_volume import read_dicom_series
from engine.segment import nib_label, segment_case
from tests.engine.dicomnet.conftest import LOCAL_AE, ORTHANC_AE, RECEIVER_AE
from tests.engine.dicomnet.studies import retag
from tests.engine.inference.helpers import tiny_checkpoint
from tests.engine.synthetic_cases import write_dicom_study
from tests.engine.test_prepare import BRATS_LIKE

pytestmark = pytest.mark.slow


def _pixels_by_sop(db: StudyDatabase, study_uid: str) -> dict[str, bytes]:
    return {str(ds.SOPInstanceUID): ds.PixelData for ds in map(pydicom.dcmread, db.files(study_uid))}


def _seg_series(node, study_uid: str, use_qido: bool) -> list[str]:
    query = FindQuery("SERIES", study_uid=study_uid, modality="SEG")
    return [str(s.SeriesInstanceUID) for s in (qido(node, query) if use_qido else find(node, query, LOCAL_AE))]


def _delete_from_orthanc(orthanc, sop_uid: str) -> None:
    [instance] = [i for i in orthanc.all_instances() if i["MainDicomTags"]["SOPInstanceUID"] == sop_uid]
    requests.delete(f"{orthanc.http_url}/instances/{instance['ID']}", timeout=30).raise_for_status()


def test_study_from_pacs_is_segmented_and_the_seg_goes_back(orthanc, tmp_path: Path) -> None:
    write_dicom_study(tmp_path / "study", BRATS_LIKE, non_mr=False)
    uploaded_uid, files = retag(tmp_path / "study", "E2E-1")
    orthanc.upload(files)
    node = orthanc.node

    echo(node, LOCAL_AE)
    [study] = find(node, FindQuery("STUDY", patient_id="E2E-1"), LOCAL_AE)
    study_uid = str(study.StudyInstanceUID)
    assert study_uid == uploaded_uid

    # Retrieve three ways: the copies are complete and identical to what was uploaded.
    by_get, by_move, by_web = (StudyDatabase(tmp_path / name) for name in ("get", "move", "web"))
    get_study(node, study_uid, by_get, local_ae=LOCAL_AE)
    with StorageReceiver(by_move, ReceiverConfig(RECEIVER_AE, orthanc.receiver_port, allowed_calling_aes=(ORTHANC_AE,))):
        move_study(node, study_uid, by_move, RECEIVER_AE, local_ae=LOCAL_AE)
    wado_study(node, study_uid, by_web)
    uploaded = {str(ds.SOPInstanceUID): ds.PixelData for ds in map(pydicom.dcmread, files)}
    for db in (by_get, by_move, by_web):
        assert db.studies()[0].complete and _pixels_by_sop(db, study_uid) == uploaded

    # The retrieved study segments (tiny random-init network, as in the segment tests).
    weights = tiny_checkpoint(tmp_path / "tiny.safetensors", demo=True)
    result = segment_case(by_get.study_folder(study_uid), None, tmp_path / "out" / "seg.nii.gz",
                          dicom_seg=tmp_path / "out" / "seg.dcm", weights=weights, device="cpu", tile=32)
    label = nib_label(result.files["nifti"])
    assert {1, 2, 4} <= set(np.unique(label).tolist())
    seg_file = result.files["dicom-seg"]
    seg = pydicom.dcmread(seg_file)
    assert seg.StudyInstanceUID == study_uid and seg.Modality == "SEG"

    # C-STORE, then (after removing it) STOW-RS: each time Orthanc lists it under the same study.
    assert [o.ok for o in send_files(node, [seg_file], local_ae=LOCAL_AE)] == [True]
    assert _seg_series(node, study_uid, False) == _seg_series(node, study_uid, True) == [seg.SeriesInstanceUID]
    _delete_from_orthanc(orthanc, str(seg.SOPInstanceUID))
    assert _seg_series(node, study_uid, False) == []
    assert [o.status for o in stow(node, [seg_file])] == [0]
    assert _seg_series(node, study_uid, False) == _seg_series(node, study_uid, True) == [seg.SeriesInstanceUID]

    # Downloaded back (the whole study, now with its SEG), it reads with highdicom and matches our label map.
    back = StudyDatabase(tmp_path / "back")
    get_study(node, study_uid, back, local_ae=LOCAL_AE)
    [seg_row] = [s for s in back.series(study_uid) if s.modality == "SEG"]
    downloaded = hd.seg.segread(back.files(study_uid, seg_row.series_uid)[0])
    t1ce = next(s for s in scan_dicom_folder(back.study_folder(study_uid)) if s.description == "AX T1 POST GD")
    sources = [str(ds.SOPInstanceUID) for ds in read_dicom_series(t1ce, "t1ce").dicom_headers]
    frames = downloaded.get_pixels_by_source_instance(sources, combine_segments=True, relabel=True)
    np.testing.assert_array_equal(frames, segment_frames(label))
