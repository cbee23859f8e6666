"""Nodes files (JSON and TOML), their errors, the receiver section, and query validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.dicomnet import DicomNode, FindQuery, NodeBook, NodeConfigError, ReceiverConfig, TlsConfig
from engine.dicomnet.nodes import load_nodes, save_nodes


def test_json_and_toml_files_give_the_same_book(tmp_path: Path) -> None:
    (tmp_path / "n.json").write_text(json.dumps({"local_ae": "ME", "nodes": {"pacs": {
        "ae_title": "PACS", "host": "10.0.0.2", "port": 11112, "dicomweb_url": "http://h/dicom-web"}},
        "receiver": {"ae_title": "ME_RX", "port": 11113, "allowed_calling_aes": ["PACS"]}}))
    (tmp_path / "n.toml").write_text('local_ae = "ME"\n[nodes.pacs]\nae_title = "PACS"\nhost = "10.0.0.2"\n'
                                     'port = 11112\ndicomweb_url = "http://h/dicom-web"\n[receiver]\n'
                                     'ae_title = "ME_RX"\nport = 11113\nallowed_calling_aes = ["PACS"]\n')
    from_json, from_toml = load_nodes(tmp_path / "n.json"), load_nodes(tmp_path / "n.toml")
    assert from_json == from_toml
    assert from_json.get("pacs") == DicomNode("pacs", "PACS", "10.0.0.2", 11112, dicomweb_url="http://h/dicom-web")
    assert from_json.receiver == ReceiverConfig("ME_RX", 11113, allowed_calling_aes=("PACS",))


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    book = NodeBook("ME", {"a": DicomNode("a", "A", "h", 104, TlsConfig(ca_file="ca.pem"), timeout_s=5)},
                    ReceiverConfig("RX", 0, allowed_calling_aes=("A",)))
    assert load_nodes(save_nodes(book, tmp_path / "sub" / "nodes.json")) == book


def test_default_file_is_optional_but_a_named_one_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVSEG_NODES", str(tmp_path / "absent.json"))
    assert load_nodes() == NodeBook()
    with pytest.raises(NodeConfigError, match="does not exist; create it"):
        load_nodes(tmp_path / "absent.json")


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "cannot be read"),
    ('{"nodes": {"p": {"host": "h"}}}', "needs ae_title"),
    ('{"nodes": {"p": {"ae_title": "P", "colour": 1}}}', "unknown keys: colour"),
    ('{"nodes": {"p": {"ae_title": "MUCH_TOO_LONG_FOR_AN_AE"}}}', "1-16 ASCII characters"),
    ('{"nodes": {"p": {"ae_title": "P", "port": 70000}}}', "port 70000 is out of range"),
    ('{"receiver": {"ae_title": "RX"}}', "accepts no calling AE titles"),
])
def test_bad_files_say_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "n.json").write_text(text)
    with pytest.raises(NodeConfigError, match=message):
        load_nodes(tmp_path / "n.json")


def test_unknown_node_lists_the_known_ones() -> None:
    with pytest.raises(NodeConfigError, match=r"no DICOM node named 'x' \(known: a\)"):
        NodeBook(nodes={"a": DicomNode("a", "A")}).get("x")


def test_query_checks_dates_and_levels() -> None:
    assert FindQuery(date_from="20240101").date_range == "20240101-"
    assert FindQuery(date_to="20240101").date_range == "-20240101"
    assert FindQuery(date_from="20240101", date_to="20240101").date_range == "20240101"
    with pytest.raises(ValueError, match="write it as YYYYMMDD"):
        FindQuery(date_from="2024-01-01")
    with pytest.raises(ValueError, match="needs the study UID"):
        FindQuery("SERIES")
    with pytest.raises(ValueError, match="level 'WARD' is unknown"):
        FindQuery("WARD")
    identifier = FindQuery("STUDY", patient_id="7", modality="MR").dataset()
    assert identifier.QueryRetrieveLevel == "STUDY" and identifier.ModalitiesInStudy == "MR"
    assert identifier.PatientID == "7" and identifier.StudyInstanceUID == ""
