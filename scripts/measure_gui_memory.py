"""Measure the GUI's resident memory: three real cases opened one after another, two of them segmented (issue 17).

Default (the issue 17 workflow): builds the full workstation (``gui.shell.workstation.build_workstation``,
settings and recovery files in a temporary folder, default settings: bundled weights, device auto), and drives
it through the controllers a user triggers:

1. File > Open Study (``StudyController.open_paths`` + OK in the study dialog) on BraTS-GLI-00000-000 (it has
   its reference label map), then Segment (``SegmentController.segment``) until the result is on screen;
2. the same for BraTS-GLI-00001-000;
3. Open Study on TCGA-DU-7294 (not segmented).

The cases are ../shared/data/real/ (``--cases`` to change). After each step the event loop idles for
``--idle`` seconds (the views render, the GUI-thread garbage collector runs) and the process's resident memory
(VmRSS) is read from /proc/self/status; the peak is VmHWM. Segmenting on a 2-core CPU takes 1-2 min per case.
``--one-case [--case FOLDER]`` is the older, quicker measurement: one case (default: the bundled demo case) with
a segmentation, a float32 uncertainty map, the 3D surfaces and the modality grid drawn once. Prints a table, or
one JSON object with ``--json`` (``--one-case`` always prints JSON). Exit code 0 when every step ran. Headless:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/measure_gui_memory.py
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402

from engine.case import default_demo_case  # noqa: E402
from engine.recovery import RECOVERY_ENV  # noqa: E402
from gui.shell.app import create_application  # noqa: E402
from gui.shell.main_window import MainWindow  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "real"
DEFAULT_CASES = ("BraTS-GLI-00000-000", "BraTS-GLI-00001-000", "TCGA-DU-7294")
SEGMENTED = 2  # the first two cases are segmented
STEP_TIMEOUT_S = 900.0
BOUND_MIB, GOAL_MIB = 1200 * 1000**2 / 1024**2, 800 * 1000**2 / 1024**2  # 1.2 GB and 0.8 GB in MiB


def memory_mib() -> dict[str, float]:
    """VmRSS and VmHWM of this process in MiB (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # kB -> MiB
    return fields


def run_until(signal: object, start: object, failure: object | None = None) -> tuple:
    """Call ``start()``; run the event loop until ``signal`` fires (its arguments) or ``failure`` does (raises)."""
    loop, got, failed = QEventLoop(), [], []
    on_signal = lambda *args: (got.append(args), loop.quit())  # noqa: E731
    on_failure = lambda *args: (failed.append(args), loop.quit())  # noqa: E731
    signal.connect(on_signal)  # type: ignore[attr-defined]
    if failure is not None:
        failure.connect(on_failure)  # type: ignore[attr-defined]
    try:
        start()  # type: ignore[operator]
        if not got and not failed:
            QTimer.singleShot(int(STEP_TIMEOUT_S * 1000), loop.quit)
            loop.exec()
    finally:  # connected lambdas would keep what the signals carried (cases, results) alive
        signal.disconnect(on_signal)  # type: ignore[attr-defined]
        if failure is not None:
            failure.disconnect(on_failure)  # type: ignore[attr-defined]
    if failed or not got:
        raise RuntimeError(f"step failed: {failed[0] if failed else 'timed out'}")
    return got[0]


def idle(seconds: float) -> None:
    """Let the event loop run (renders, deferred updates, the GUI-thread garbage collector)."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def open_study(window: object, folder: Path) -> str:
    """File > Open Study on ``folder``, OK in the study dialog; returns the case id once it is on screen."""
    studies = window.studies  # type: ignore[attr-defined]
    if window.autosave.has_unsaved_edits:  # type: ignore[attr-defined]
        window.autosave.discard()  # type: ignore[attr-defined]  # as "Discard" in the unsaved-edits prompt
    dialog = run_until(studies.dialog_shown, lambda: studies.open_paths([folder]), studies.failed)[0]
    return run_until(studies.study_loaded, dialog.accept, studies.failed)[0]


def segment(window: object) -> str:
    """Segmentation > Segment; returns the status-bar text once the result is on screen."""
    controller = window.segmentation  # type: ignore[attr-defined]
    started = []
    run_until(controller.finished, lambda: started.append(controller.segment()), controller.failed)
    if not started or not started[0]:
        raise RuntimeError("Segment did not start")
    return window.statusBar().currentMessage()  # type: ignore[attr-defined]


def workflow(args: argparse.Namespace) -> dict[str, object]:
    from gui.shell.workstation import build_workstation

    scratch = Path(tempfile.mkdtemp(prefix="revseg-memory-"))
    os.environ[RECOVERY_ENV] = str(scratch / "recovery")
    app = create_application()
    window = build_workstation(store=QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1280, 900)
    window.show()
    idle(args.idle)
    steps: list[dict[str, object]] = []

    def record(step: str, started: float, note: str = "") -> None:
        idle(args.idle)
        memory = memory_mib()
        steps.append({"step": step, "rss_mib": round(memory["VmRSS"], 1), "peak_mib": round(memory["VmHWM"], 1),
                      "seconds": round(time.perf_counter() - started, 1), "note": note})
        print(f"{step}: {memory['VmRSS']:.0f} MiB (peak {memory['VmHWM']:.0f} MiB)", file=sys.stderr, flush=True)

    record("start (workstation shown)", time.perf_counter())
    for index, folder in enumerate(args.cases):
        started = time.perf_counter()
        case_id = open_study(window, folder)
        record(f"open {case_id}", started)
        if index < SEGMENTED:
            started = time.perf_counter()
            note = segment(window)
            record(f"segment {case_id}", started, note)
    window.autosave.discard()
    window.close()
    app.processEvents()
    peak = max(float(step["peak_mib"]) for step in steps)  # type: ignore[arg-type]
    final = float(steps[-1]["rss_mib"])  # type: ignore[arg-type]
    return {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "load_average": [round(v, 2) for v in os.getloadavg()], "cases": [f.name for f in args.cases],
            "steps": steps, "final_rss_mib": final, "max_rss_mib": max(float(s["rss_mib"]) for s in steps),  # type: ignore[arg-type]
            "peak_mib": peak, "bound_mib": round(BOUND_MIB, 1), "goal_mib": round(GOAL_MIB, 1)}


def one_case(args: argparse.Namespace) -> dict[str, object]:
    """One case with a segmentation + uncertainty map, surfaces and the modality grid drawn (the older figure)."""
    app = create_application()
    window = MainWindow()
    window.resize(1280, 900)
    window.show()
    result: dict[str, object] = {"before_case_mib": memory_mib()["VmRSS"]}

    def loaded(_case_id: str) -> None:
        model = window.model
        label = model.label if model.label is not None else np.zeros(model.shape, np.uint8)
        uncertainty = np.zeros(model.shape, np.float32)
        uncertainty[label > 0] = 0.3
        model.set_segmentation(label.copy(), uncertainty)
        model.set_overlay_style(uncertainty_visible=True)
        window.volume_view.update_surfaces()
        window.set_grid_mode(True)
        app.processEvents()
        window.set_grid_mode(False)
        app.processEvents()
        memory = memory_mib()
        result.update(case=model.case.case_id, shape=list(model.shape), rss_mib=round(memory["VmRSS"], 1),
                      peak_mib=round(memory["VmHWM"], 1), surfaces=sorted(window.volume_view.surfaces.actors),
                      window_lightness=window.palette().window().color().lightness())
        window.close()

    window.case_loaded.connect(lambda case_id: QTimer.singleShot(200, lambda: loaded(case_id)))
    window.load_failed.connect(lambda message: (result.update(error=message), window.close()))
    QTimer.singleShot(120_000, window.close)
    window.open_case(args.case or default_demo_case())
    app.exec()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one-case", action="store_true", help="the older one-case measurement (JSON)")
    parser.add_argument("--case", type=Path, help="--one-case: the case folder (default: the demo case)")
    parser.add_argument("--cases", type=Path, nargs=3, default=[REAL / name for name in DEFAULT_CASES],
                        help="three case folders (default: BraTS-GLI-00000-000, BraTS-GLI-00001-000, TCGA-DU-7294)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idle event loop before each reading")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    if args.one_case:
        result = one_case(args)
        print(json.dumps(result))
        return 0 if "rss_mib" in result else 1
    missing = [str(f) for f in args.cases if not f.is_dir()]
    if missing:
        raise SystemExit(f"case folders not found: {', '.join(missing)}")
    result = workflow(args)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['date']}, load average {result['load_average']}")
    print("step                                   RSS MiB   peak MiB   seconds")
    for step in result["steps"]:  # type: ignore[union-attr]
        print(f"{step['step']:<38} {step['rss_mib']:8.0f}  {step['peak_mib']:9.0f}  {step['seconds']:8.1f}")
    print(f"final {result['final_rss_mib']:.0f} MiB, highest reading {result['max_rss_mib']:.0f} MiB, peak (VmHWM) "
          f"{result['peak_mib']:.0f} MiB; bound 1.2 GB = {BOUND_MIB:.0f} MiB, goal 0.8 GB = {GOAL_MIB:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
