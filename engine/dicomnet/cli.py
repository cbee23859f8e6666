"""The ``pacs`` command line (``main.py pacs echo|find|get|send|list|delete``) and the PACS side of ``segment``
(``--from-pacs NODE --study UID``, ``--send-to NODE``). Output goes to stdout, progress to stderr."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.dicomnet.database import StudyDatabase
from engine.dicomnet.dimse import StoreOutcome, echo, find, get_study, move_study, send_files
from engine.dicomnet.nodes import NodeBook, load_nodes
from engine.dicomnet.query import RETURN_KEYS, FindQuery
from engine.dicomnet.receiver import ReceiverConfig, StorageReceiver
from engine.dicomnet.web import qido, stow, wado_study


def _book(args: argparse.Namespace) -> tuple[NodeBook, str]:
    book = load_nodes(args.nodes)
    return book, args.local_ae or book.local_ae


def _progress(what: str):
    def report(done: int, total: int) -> None:
        sys.stderr.write(f"\r{what}: {done}/{total}" + ("\n" if done >= total else ""))
        sys.stderr.flush()
    return report if sys.stderr.isatty() else None


def retrieve(args: argparse.Namespace, node_name: str, study_uid: str, method: str = "get") -> Path:
    """Retrieve ``study_uid`` from ``node_name`` into the database; returns the study's folder there."""
    book, local_ae = _book(args)
    node, db = book.get(node_name), StudyDatabase(args.db)
    progress = _progress(f"retrieve {study_uid}")
    if method == "wado":
        wado_study(node, study_uid, db, progress=progress)
    elif method == "move":
        config = ReceiverConfig(args.receiver_ae, args.receiver_port, allowed_calling_aes=(node.ae_title,))
        with StorageReceiver(db, config):
            move_study(node, study_uid, db, args.receiver_ae, local_ae=local_ae, progress=progress)
    else:
        get_study(node, study_uid, db, local_ae=local_ae, progress=progress)
    return db.study_folder(study_uid)


def send(args: argparse.Namespace, node_name: str, files: list[Path], web: bool = False) -> list[StoreOutcome]:
    """Send ``files`` to ``node_name`` (C-STORE, or STOW-RS with ``web``); one outcome per file."""
    book, local_ae = _book(args)
    node = book.get(node_name)
    return stow(node, files) if web else send_files(node, files, local_ae=local_ae)


def print_outcomes(outcomes: list[StoreOutcome], node_name: str) -> bool:
    for outcome in outcomes:
        state = "stored" if outcome.ok else f"FAILED (0x{outcome.status:04X} {outcome.message})"
        sys.stdout.write(f"{outcome.path.name} -> {node_name}: {state}\n")
    return all(o.ok for o in outcomes)


def _find(args: argparse.Namespace) -> int:
    book, local_ae = _book(args)
    node = book.get(args.node)
    query = FindQuery(args.level.upper(), args.name, args.patient_id, args.date_from, args.date_to, args.modality,
                      args.accession, args.study, args.series)
    found = qido(node, query) if args.web else find(node, query, local_ae)
    keys = [k for k in RETURN_KEYS[query.level] if not k.startswith("NumberOf") or query.level != "IMAGE"]
    sys.stdout.write("\t".join(keys) + "\n")
    for ds in found:
        sys.stdout.write("\t".join(str(ds.get(k, "") or "") for k in keys) + "\n")
    sys.stderr.write(f"{len(found)} {query.level.lower()} result(s) from {node.name}\n")
    return 0


def _list(args: argparse.Namespace) -> int:
    db = StudyDatabase(args.db)
    for row in db.studies(args.text):
        state = "complete" if row.complete else "INCOMPLETE"
        sys.stdout.write(f"{row.study_uid}\t{row.patient_id}\t{row.patient_name}\t{row.date}\t"
                         f"{'/'.join(row.modalities)}\t{row.instance_count} instances\t{row.size_bytes} bytes\t{state}\n")
    sys.stderr.write(f"database {db.root}: {db.size_bytes()} bytes\n")
    return 0


def run_pacs(args: argparse.Namespace) -> int:
    """Run ``main.py pacs ACTION``; returns the exit code."""
    if args.pacs_command == "echo":
        book, local_ae = _book(args)
        echo(book.get(args.node), local_ae)
        sys.stdout.write(f"{book.get(args.node).label}: echo OK\n")
        return 0
    if args.pacs_command == "find":
        return _find(args)
    if args.pacs_command == "get":
        sys.stdout.write(f"{retrieve(args, args.node, args.study, args.method)}\n")
        return 0
    if args.pacs_command == "send":
        files = list(args.files)
        if args.pdf is not None:
            from engine.dicomnet.report_pdf import encapsulate_pdf

            files.append(encapsulate_pdf(args.pdf, files[0], args.pdf.with_suffix(".dcm"), force=True))
        return 0 if print_outcomes(send(args, args.node, files, args.web), args.node) else 1
    if args.pacs_command == "list":
        return _list(args)
    removed = StudyDatabase(args.db).delete_study(args.study)
    sys.stdout.write(f"deleted {args.study} ({removed} instances)\n")
    return 0


def _seg_next_to(out: Path) -> Path:
    name = out.name.removesuffix(".gz").removesuffix(".nii")
    return out.with_name(f"{name}.seg.dcm")


def prepare_pacs_segment(args: argparse.Namespace) -> None:
    """Check ``segment``'s PACS options; with --from-pacs retrieve the study and make it the input.

    With --send-to and no --dicom-seg, the SEG is written next to the label map (``NAME.seg.dcm``).
    """
    if args.from_pacs and not args.study:
        raise ValueError("--from-pacs needs --study UID (find it with `pacs find NODE --patient-id ID`)")
    if args.study and not args.from_pacs:
        raise ValueError("--study is for --from-pacs NODE; give the node to retrieve it from")
    if args.batch and (args.from_pacs or args.send_to):
        raise ValueError("--from-pacs / --send-to work on one study; run segment once per study of the worklist")
    if args.from_pacs:
        if args.input is not None:
            raise ValueError("give either INPUT or --from-pacs, not both")
        args.input = retrieve(args, args.from_pacs, args.study)
    if args.send_to:
        load_nodes(args.nodes).get(args.send_to)  # an unknown node fails before the segmentation runs
        args.dicom_seg = args.dicom_seg or _seg_next_to(args.out)


def send_segmentation(args: argparse.Namespace, seg_file: Path) -> int:
    """Send the written DICOM-SEG to ``--send-to``; prints the node's answer, returns the exit code."""
    return 0 if print_outcomes(send(args, args.send_to, [seg_file]), args.send_to) else 1
