"""`main.py pacs ...` and `segment --from-pacs/--send-to` against the fixture's Orthanc."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

import main
from engine.dicomnet import FindQuery, find
from tests.engine.dicomnet.conftest import LOCAL_AE, RECEIVER_AE
from tests.engine.dicomnet.studies import retag, tiny_study


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def nodes_file(orthanc, tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = orthanc.node
    path = tmp_path_factory.mktemp("config") / "nodes.json"
    entry = {"ae_title": node.ae_title, "host": node.host, "port": node.port, "dicomweb_url": node.dicomweb_url}
    path.write_text(json.dumps({"local_ae": LOCAL_AE, "nodes": {
        "orthanc": entry, "wrong": entry | {"ae_title": "NOT_ORTHANC"}}}))
    return path


@pytest.fixture(scope="module")
def study(orthanc, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Path]]:
    study_uid, files = tiny_study(tmp_path_factory.mktemp("cli") / "s", "CLI-1")
    orthanc.upload(files)
    return study_uid, files


def test_echo_find_and_errors(capsys, nodes_file: Path, study) -> None:
    study_uid, _ = study
    code, out, _ = run_main(capsys, "pacs", "echo", "orthanc", "--nodes", str(nodes_file))
    assert code == 0 and "echo OK" in out
    code, out, err = run_main(capsys, "pacs", "find", "orthanc", "--patient-id", "CLI-1", "--nodes", str(nodes_file))
    assert code == 0 and study_uid in out and "1 study result(s)" in err
    code, out, _ = run_main(capsys, "pacs", "find", "orthanc", "--level", "series", "--study", study_uid, "--web",
                            "--nodes", str(nodes_file))
    assert code == 0 and "AX T1 POST GD" in out and "AX FLAIR" in out
    code, _, err = run_main(capsys, "pacs", "echo", "wrong", "--nodes", str(nodes_file))
    assert code == 2 and "rejected the association" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_main(capsys, "pacs", "echo", "nowhere", "--nodes", str(nodes_file))
    assert code == 2 and "no DICOM node named 'nowhere' (known: orthanc, wrong)" in err


@pytest.mark.parametrize("method", ["get", "move", "wado"])
def test_get_list_delete(capsys, nodes_file: Path, study, tmp_path: Path, orthanc, method: str) -> None:
    study_uid, files = study
    db = tmp_path / "db"
    extra = ["--receiver-ae", RECEIVER_AE, "--receiver-port", str(orthanc.receiver_port)] if method == "move" else []
    code, out, _ = run_main(capsys, "pacs", "get", "orthanc", "--study", study_uid, "--method", method, "--db", str(db),
                            "--nodes", str(nodes_file), *extra)
    folder = Path(out.strip())
    assert code == 0 and folder.is_dir() and len(list(folder.rglob("*.dcm"))) == len(files)
    code, out, _ = run_main(capsys, "pacs", "list", "--db", str(db))
    assert code == 0 and study_uid in out and "complete" in out and f"{len(files)} instances" in out
    code, out, _ = run_main(capsys, "pacs", "delete", study_uid, "--db", str(db))
    assert code == 0 and f"({len(files)} instances)" in out and not folder.exists()


def test_send_reports_each_instance(capsys, nodes_file: Path, orthanc, tmp_path: Path) -> None:
    study_uid, files = tiny_study(tmp_path / "s", "CLI-SEND", ("t2",))
    code, out, _ = run_main(capsys, "pacs", "send", "orthanc", *map(str, files), "--nodes", str(nodes_file))
    assert code == 0 and out.count(": stored") == len(files)
    [found] = find(orthanc.node, FindQuery("STUDY", patient_id="CLI-SEND"), LOCAL_AE)
    assert found.StudyInstanceUID == study_uid
    from tests.engine.dicomnet.test_report_pdf import PDF

    (tmp_path / "report.pdf").write_bytes(PDF)
    code, out, _ = run_main(capsys, "pacs", "send", "orthanc", str(files[0]), "--pdf", str(tmp_path / "report.pdf"),
                            "--nodes", str(nodes_file))
    assert code == 0 and "report.dcm -> orthanc: stored" in out
    assert len(find(orthanc.node, FindQuery("SERIES", study_uid=study_uid, modality="DOC"), LOCAL_AE)) == 1


@pytest.mark.slow
def test_segment_from_pacs_sends_the_seg_back(capsys, nodes_file: Path, orthanc, tmp_path: Path) -> None:
    from tests.engine.inference.helpers import tiny_checkpoint
    from tests.engine.synthetic_cases import write_dicom_study
    from tests.engine.test_prepare import BRATS_LIKE

    write_dicom_study(tmp_path / "study", BRATS_LIKE, non_mr=False)
    study_uid, files = retag(tmp_path / "study", "CLI-SEG")
    orthanc.upload(files)
    weights = tiny_checkpoint(tmp_path / "tiny.safetensors", demo=True)
    out = tmp_path / "out" / "seg.nii.gz"
    code, stdout, _ = run_main(capsys, "segment", "--from-pacs", "orthanc", "--study", study_uid, "--send-to", "orthanc",
                               "-o", str(out), "--weights", str(weights), "--device", "cpu", "--tile", "32",
                               "--db", str(tmp_path / "db"), "--nodes", str(nodes_file))
    assert code == 0 and "seg.seg.dcm -> orthanc: stored" in stdout
    seg = pydicom.dcmread(tmp_path / "out" / "seg.seg.dcm")
    [listed] = find(orthanc.node, FindQuery("SERIES", study_uid=study_uid, modality="SEG"), LOCAL_AE)
    assert listed.SeriesInstanceUID == seg.SeriesInstanceUID and seg.StudyInstanceUID == study_uid


def test_segment_pacs_options_are_checked_first(capsys, nodes_file: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "seg.nii.gz")
    code, _, err = run_main(capsys, "segment", "--from-pacs", "orthanc", "-o", out, "--nodes", str(nodes_file))
    assert code == 2 and "--from-pacs needs --study UID" in err
    code, _, err = run_main(capsys, "segment", str(tmp_path), "--send-to", "nowhere", "-o", out, "--nodes",
                            str(nodes_file))
    assert code == 2 and "no DICOM node named 'nowhere'" in err and not (tmp_path / "seg.nii.gz").exists()
