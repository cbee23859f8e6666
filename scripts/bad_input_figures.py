"""Wall time and peak RSS of every rejected input of the bad-input corpus, each run as a fresh CLI process.

Usage (from the repository root):
    PYTHONPATH=$PWD .venv/bin/python scripts/bad_input_figures.py [NAME ...]

Each corpus entry (tests/cli/corpus.py) is built in a temporary folder and run as ``python -c main.main(argv)`` in
its own process; the table gives the exit code, the wall time (process start to exit, Python and torch imports
included) and the peak RSS (resource.getrusage of the child). The figures go to docs/benchmarks.md (issue 15).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cli.bad_files import nifti_case  # noqa: E402
from tests.cli.corpus import CORPUS, Workspace  # noqa: E402
from tests.engine.inference.helpers import tiny_checkpoint  # noqa: E402
from tests.engine.synthetic_cases import LPS_AXES, grid_from, write_dicom_study  # noqa: E402

# A fresh, small Python launches the CLI, so the child's peak RSS (os.wait4) does not start from this process's.
LAUNCHER = ("import os, subprocess, sys; child = subprocess.Popen(sys.argv[1:]); _, status, usage = os.wait4(child.pid, 0); "
            "print('PEAK_RSS_KB', usage.ru_maxrss, file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(status))")


def run_one(argv: list[str]) -> tuple[int, float, float, str]:
    """Exit code, wall seconds, peak RSS (MB) of the CLI process, its stderr."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, str(ROOT / "main.py"), *argv],
                            capture_output=True, text=True, cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)},
                            check=False)
    wall = time.monotonic() - start
    lines = result.stderr.strip().splitlines()
    peak_kb = int(lines[-1].split()[1])
    return result.returncode, wall, peak_kb / 1024, "\n".join(lines[:-1])


def main(names: list[str]) -> int:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        weights = tiny_checkpoint(base / "tiny.safetensors")
        case, study = nifti_case(base / "case"), base / "study"
        write_dicom_study(study, grid_from((40, 44, 36), (1, 1, 1), LPS_AXES))
        worst_wall, worst_rss, failures = 0.0, 0.0, 0
        print("| input | exit | wall s | peak RSS MB | lines |")
        print("|---|---|---|---|---|")
        for index, (name, build, _) in enumerate(CORPUS):
            if names and name not in names:
                continue
            ws = Workspace(base / f"run{index}", weights, case, study)
            ws.tmp.mkdir()
            code, wall, rss, err = run_one(build(ws))
            lines = len(err.splitlines())
            failures += code != 2 or lines != 1
            worst_wall, worst_rss = max(worst_wall, wall), max(worst_rss, rss)
            print(f"| {name} | {code} | {wall:.1f} | {rss:.0f} | {lines} |", flush=True)
        print(f"\nworst wall {worst_wall:.1f} s, worst peak RSS {worst_rss:.0f} MB, "
              f"{failures} not refused in one line")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
