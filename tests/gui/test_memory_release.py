"""What a closed case and a finished segmentation leave behind: nothing that holds their arrays (issue 17).

Weak references to the first case's volumes, its label map and the segmentation's result must die once a
second case is on screen; the 3D view's label copy must belong to the shown label map only; a background job
must not keep its inputs after it ran. The resident-memory figures are measured by
scripts/measure_gui_memory.py (docs/benchmarks.md), not asserted here.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest

from gui.background import BackgroundJob
from tests.gui.qt_helpers import load
from tests.gui.segment_helpers import (
    RUN_TIMEOUT_MS,
    case_folder,
    tiny_weights,
    use_weights,
)

pytestmark = pytest.mark.gui


def test_a_second_case_frees_the_first_case_and_its_segmentation(qtbot, workstation, tmp_path: Path,
                                                                  synthetic_case: Path) -> None:
    window = workstation
    load(qtbot, window, case_folder(tmp_path / "first"))
    use_weights(window.segment_settings, tiny_weights(tmp_path))
    window.segmentation.predictor_options = {"tile": 32, "overlap": 0.25}
    with qtbot.waitSignal(window.segmentation.finished, timeout=RUN_TIMEOUT_MS):
        assert window.segmentation.segment()
    case, run = window.model.case, window.segmentation.last_run
    assert run is not None and window.model.label is not None
    first = {f"volume {name}": weakref.ref(volume.data) for name, volume in case.volumes.items()}
    first |= {"case": weakref.ref(case), "shown label": weakref.ref(window.model.label),
              "run": weakref.ref(run), "run label": weakref.ref(run.label),
              "run uncertainty": weakref.ref(run.uncertainty)}
    segmenter = window.segmentation.segmenter
    del case, run
    qtbot.waitUntil(lambda: not window.segmentation.busy, timeout=5000)
    load(qtbot, window, synthetic_case)
    qtbot.wait(50)  # the release after the case change runs at the next event-loop turn
    gc.collect()
    alive = [name for name, ref in first.items() if ref() is not None]
    assert alive == [], f"still referenced after opening another case: {alive}"
    assert window.segmentation.segmenter is segmenter  # the weights stay loaded, once


def test_the_3d_view_keeps_a_copy_of_the_shown_label_map_only(qtbot, workstation, synthetic_case: Path,
                                                              tmp_path: Path) -> None:
    window = workstation
    load(qtbot, window, synthetic_case)
    surfaces = window.volume_view.surfaces
    assert surfaces.actors and surfaces._shown is not None
    first_copy = weakref.ref(surfaces._shown.copy)
    assert np.array_equal(surfaces._shown.copy, window.model.label)
    load(qtbot, window, case_folder(tmp_path))  # a case without a label map: no surfaces, no copy
    gc.collect()
    assert first_copy() is None
    assert surfaces.actors == {} and surfaces._shown is None


def test_a_background_job_does_not_keep_its_inputs(qtbot) -> None:
    job = BackgroundJob()
    inputs = np.zeros(1000)
    watch = weakref.ref(inputs)

    def work(progress, cancel, data=inputs):  # noqa: ANN001
        return float(data.sum())

    with qtbot.waitSignal(job.finished, timeout=10_000) as finished:
        job.start(work)
    assert finished.args == [0.0]
    del work, inputs
    gc.collect()
    assert watch() is None
