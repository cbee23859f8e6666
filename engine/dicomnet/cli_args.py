"""Argument parsers of ``main.py pacs ...`` and of the PACS options of ``segment``; imports nothing heavy, so
``--help`` stays quick. The commands themselves are in ``engine.dicomnet.cli``."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.dicomnet.nodes import default_nodes_path


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """--nodes, --local-ae and --db, shared by ``pacs`` and ``segment``."""
    parser.add_argument("--nodes", type=Path, help=f"nodes file, JSON or TOML (default: {default_nodes_path()})")
    parser.add_argument("--local-ae", help="our AE title (default: local_ae of the nodes file, else REVSEG)")
    parser.add_argument("--db", type=Path, help="local study database folder (default: the user's data folder)")


def add_pacs_parser(commands: argparse._SubParsersAction) -> None:
    pacs = commands.add_parser("pacs", help="query/retrieve from and send to a PACS (docs/pacs.md)")
    actions = pacs.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)
    for name, text in (("echo", "C-ECHO a node"), ("find", "query a node (C-FIND, or QIDO-RS with --web)"),
                       ("get", "retrieve a study into the local database"), ("send", "send DICOM files to a node")):
        action = actions.add_parser(name, help=text)
        action.add_argument("node", help="node name in the nodes file")
        add_connection_options(action)
    find_parser, get_parser, send_parser = (actions.choices[n] for n in ("find", "get", "send"))
    find_parser.add_argument("--level", default="study", choices=["patient", "study", "series", "image"])
    for option, text in (("--patient-id", "PatientID"), ("--name", "PatientName (* wildcards)"),
                         ("--date-from", "first StudyDate YYYYMMDD"), ("--date-to", "last StudyDate YYYYMMDD"),
                         ("--modality", "modality, e.g. MR"), ("--accession", "AccessionNumber"),
                         ("--study", "StudyInstanceUID (needed for series / image)"),
                         ("--series", "SeriesInstanceUID (needed for image)")):
        find_parser.add_argument(option, default="", help=text)
    find_parser.add_argument("--web", action="store_true", help="use QIDO-RS instead of C-FIND")
    get_parser.add_argument("--study", required=True, help="StudyInstanceUID to retrieve")
    get_parser.add_argument("--method", default="get", choices=["get", "move", "wado"],
                            help="C-GET (default), C-MOVE into a receiver started for the run, or WADO-RS")
    get_parser.add_argument("--receiver-ae", default="REVSEG", help="C-MOVE destination AE title (known to the node)")
    get_parser.add_argument("--receiver-port", type=int, default=11112, help="port of the C-MOVE receiver")
    send_parser.add_argument("files", nargs="+", type=Path, help="DICOM files to send")
    send_parser.add_argument("--pdf", type=Path, help="also send this PDF report, wrapped as an Encapsulated PDF "
                             "in the study of the first FILE")
    send_parser.add_argument("--web", action="store_true", help="use STOW-RS instead of C-STORE")
    for name, text in (("list", "list the studies in the local database"),
                       ("delete", "delete a study from the local database")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--db", type=Path, help="local study database folder")
    actions.choices["list"].add_argument("text", nargs="?", default="", help="filter: patient name / ID, description")
    actions.choices["delete"].add_argument("study", help="StudyInstanceUID")


def add_segment_pacs_options(segment: argparse.ArgumentParser) -> None:
    """``segment --from-pacs NODE --study UID --send-to NODE`` (with --nodes, --local-ae, --db)."""
    group = segment.add_argument_group("PACS", "segment a study pulled from a PACS, send the DICOM-SEG back")
    group.add_argument("--from-pacs", metavar="NODE", help="retrieve the input study from this node (C-GET)")
    group.add_argument("--study", metavar="UID", help="StudyInstanceUID to retrieve (with --from-pacs)")
    group.add_argument("--send-to", metavar="NODE", help="send the DICOM-SEG to this node (C-STORE)")
    add_connection_options(group)
