"""Measure how fast the storage receiver files a study: 4 MR series x 155 slices of 240 x 240 (BraTS size).

Writes the study (int16, ~71 MB), starts a ``StorageReceiver`` over a fresh ``StudyDatabase``, and sends the 620
instances over localhost C-STORE from a separate process (so sender and receiver do not share a GIL, as with a
PACS). Prints one JSON line: seconds from the sender's association request (after its imports) to the last instance indexed, the
instances stored, and whether every series is complete in the database. Bound (issue 18): under 10 s.

    .venv/bin/python scripts/measure_receiver.py [--series 4] [--slices 155] [--size 240]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from engine.dicomnet import DicomNode, ReceiverConfig, StorageReceiver, StudyDatabase, send_files  # noqa: E402
from engine.export.dicom_mr import DicomIdentity, MRSeriesSpec, write_mr_series  # noqa: E402


def write_study(folder: Path, series: int, slices: int, size: int) -> list[Path]:
    identity = DicomIdentity(patient_name="Bench^Receiver", patient_id="BENCH-RX").resolved()
    rng = np.random.default_rng(0)
    affine = np.diag([-1.0, -1.0, 1.0, 1.0])
    files: list[Path] = []
    for number in range(1, series + 1):
        data = rng.integers(0, 1000, size=(size, size, slices), dtype=np.int16)
        files += write_mr_series(data, affine, folder / f"series{number}", MRSeriesSpec(f"BENCH {number}", number),
                                 identity)
    return files


def _send(port: int, files: list[str], started) -> None:
    node = DicomNode("rx", "BENCH_RX", "127.0.0.1", port, timeout_s=60)
    started.put(time.time())  # just before the association request: module imports are not counted
    outcomes = send_files(node, files, local_ae="BENCH_SCU")
    if not all(o.ok for o in outcomes):
        raise SystemExit("some instances were refused")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--slices", type=int, default=155)
    parser.add_argument("--size", type=int, default=240)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        files = write_study(Path(scratch) / "study", args.series, args.slices, args.size)
        db = StudyDatabase(Path(scratch) / "db")
        config = ReceiverConfig("BENCH_RX", 0, allowed_calling_aes=("BENCH_SCU",))
        with StorageReceiver(db, config) as receiver:
            context = multiprocessing.get_context("spawn")
            started = context.Queue()
            sender = context.Process(target=_send, args=(receiver.port, list(map(str, files)), started))
            sender.start()
            while receiver.stored < len(files) and sender.is_alive():
                time.sleep(0.002)
            seconds = time.time() - started.get(timeout=60)  # the last instance is indexed when stored counts it
            sender.join()
        stored = receiver.stored
        [study] = db.studies()
        print(json.dumps({"instances": len(files), "stored": stored, "seconds": round(seconds, 2),
                          "instances_per_s": round(stored / seconds, 1), "complete": study.complete,
                          "megabytes": round(db.size_bytes() / 1e6, 1)}))
    return 0 if stored == len(files) and study.complete else 1


if __name__ == "__main__":
    sys.exit(main())
