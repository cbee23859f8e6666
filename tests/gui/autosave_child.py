"""Child process of the autosave crash test: edits the test case, autosaves, then waits to be killed.

Usage: python -m tests.gui.autosave_child CASE_FOLDER EXPECTED_NPY
Writes the edited label map to EXPECTED_NPY, prints "autosaved" once the recovery file holds it, then keeps
its event loop running (and autosaving) until it is killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from engine.recovery import find_recovery
from gui.editing.edit_controller import EditController
from gui.shell.autosave import AutosaveController
from tests.gui.edit_helpers import make_model


def main() -> None:
    folder, expected = Path(sys.argv[1]), Path(sys.argv[2])
    app = QApplication([])
    model = make_model(folder)
    autosave = AutosaveController(model, interval_ms=100)
    editor = EditController(model)
    editor.update_settings(radius_mm=3.0, value=4)
    brush = editor.set_tool("brush")
    brush.press((5, 5, 4), 2, None)
    brush.drag((12, 8, 4), 2)
    brush.release()
    editor.set_tool("component").press((15, 18, 10), 2, None)  # removes the AI tumour
    np.save(expected, model.label)

    def report_when_saved() -> None:
        found = find_recovery(model.case.case_id, folder)
        if found is not None and np.array_equal(found.label, model.label):
            sys.stdout.write("autosaved\n")
            sys.stdout.flush()
        else:
            QTimer.singleShot(50, report_when_saved)

    QTimer.singleShot(50, report_when_saved)
    _ = autosave
    app.exec()


if __name__ == "__main__":
    main()
