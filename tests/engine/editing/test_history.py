"""Undo / redo restores exact voxels, strokes store only changed voxels, memory stays small."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from engine.editing import EditHistory, EditSession
from engine.editing.session import Brush

SHAPE = (30, 28, 16)


def _label() -> np.ndarray:
    label = np.zeros(SHAPE, np.uint8)
    label[8:20, 8:20, 4:12] = 2
    label[11:17, 11:17, 6:10] = 4
    return label


def test_stroke_merges_dabs_and_undo_redo_restore_exact_voxels():
    label = _label()
    before = label.copy()
    history = EditHistory(label)
    history.begin_stroke("brush")
    history.apply(np.arange(0, 500), 1)
    history.apply(np.arange(250, 800), 4)  # overlaps the first dab
    stroke = history.end_stroke()
    after = label.copy()
    assert stroke is not None and len(stroke) == np.count_nonzero(before != after)
    assert np.array_equal(np.sort(stroke.indices), stroke.indices)  # merged once per voxel
    assert np.array_equal(stroke.old, before.reshape(-1)[stroke.indices])
    history.undo()
    assert np.array_equal(label, before)
    history.redo()
    assert np.array_equal(label, after)


def test_a_stroke_that_changes_nothing_is_not_recorded():
    label = _label()
    history = EditHistory(label)
    history.begin_stroke()
    history.apply(np.arange(10), 7)
    history.apply(np.arange(10), 0)  # back to what it was
    assert history.end_stroke() is None
    assert not history.can_undo


def test_new_edit_clears_redo_and_depth_is_bounded():
    label = _label()
    history = EditHistory(label, max_strokes=50)
    for index in range(60):
        history.apply(np.array([index]), 9)
    assert history.undo_count == 50
    history.undo()
    assert history.can_redo
    history.apply(np.array([500]), 3)
    assert not history.can_redo
    with pytest.raises(ValueError, match="at least 50"):
        EditHistory(label, max_strokes=10)


def test_fifty_strokes_undo_back_to_the_start_exactly():
    label = _label()
    before = label.copy()
    session = EditSession(label, (1.0, 1.0, 2.0))
    rng = np.random.default_rng(1)
    states = [label.copy()]
    for stroke in range(50):
        brush = Brush(radius_mm=float(rng.uniform(1, 4)), value=int(rng.choice([0, 1, 2, 4])),
                      plane_axis=None if stroke % 3 == 0 else 2)
        session.begin_stroke()
        start = tuple(int(v) for v in rng.integers(0, SHAPE))
        end = tuple(int(v) for v in rng.integers(0, SHAPE))
        session.dab(start, brush)
        session.line(start, end, brush)
        if session.end_stroke() is not None:  # a stroke that changed nothing is no undo step
            states.append(label.copy())
    assert session.history.undo_count == len(states) - 1 >= 40
    for expected in reversed(states[:-1]):
        session.undo()
        assert np.array_equal(label, expected)
    assert not session.history.can_undo
    assert np.array_equal(label, before)
    while session.redo() is not None:
        pass
    assert np.array_equal(label, states[-1])


def test_undo_memory_of_fifty_strokes_on_a_full_brats_case(record_property):
    """50 drags of a 5 mm 3D brush (each ~40 dabs) on 240 x 240 x 155: the history must stay <= 50 MB."""
    label = np.zeros((240, 240, 155), np.uint8)
    session = EditSession(label, (1.0, 1.0, 1.0))
    brush = Brush(radius_mm=5.0, value=4, plane_axis=None)
    rng = np.random.default_rng(2)
    changed = 0
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    for _ in range(50):
        start = tuple(int(v) for v in rng.integers(50, 100, 3))
        end = tuple(int(v) for v in np.add(start, rng.integers(-40, 40, 3)))
        session.begin_stroke()
        session.line(start, end, brush)
        stroke = session.end_stroke()
        changed += len(stroke) if stroke is not None else 0
    traced_megabytes = (tracemalloc.get_traced_memory()[0] - baseline) / 1e6  # arrays + Python objects
    tracemalloc.stop()
    megabytes = session.history.nbytes / 1e6
    print(f"undo history of 50 strokes: {megabytes:.2f} MB for {changed} changed voxels "
          f"({traced_megabytes:.2f} MB traced)")  # reported with -s
    record_property("undo_megabytes", megabytes)
    assert session.history.undo_count == 50
    assert session.history.nbytes == 6 * changed  # int32 index + old + new byte per changed voxel
    assert traced_megabytes <= 50.0
    assert megabytes <= 50.0, f"undo history holds {megabytes:.1f} MB"
