"""GUI test setup: X11 platform under Xvfb, skipping display tests without a display, tiny synthetic cases.

Display tests (marked ``gui``) need an X display; ./run-tests runs them under xvfb-run. Without DISPLAY they
are skipped with the reason. The Qt-free viewer-model tests in this folder run everywhere.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

if os.environ.get("DISPLAY"):
    # The VTK views need X11 (GLX); Wayland or offscreen Qt platforms cannot host them.
    os.environ["QT_QPA_PLATFORM"] = "xcb"

GUI_TESTS = Path(__file__).resolve().parent
SYNTHETIC_SHAPE = (48, 40, 32)  # distinct sizes so that a swapped axis changes the picture
SYNTHETIC_SPACING = (1.0, 1.2, 2.0)
# The marker: a small bright block in the right-anterior-superior corner (RAS voxel ranges), under 0.5 % of
# the head so that the default window (0.5-99.5 percentiles) ignores it.
MARKER = (slice(38, 43), slice(29, 34), slice(23, 27))
MARKER_VALUE = 5000.0
NAMES_2020 = {"t1": "_t1", "t1ce": "_t1ce", "t2": "_t2", "flair": "_flair", "seg": "_seg"}
NAMES_2023 = {"t1": "-t1n", "t1ce": "-t1c", "t2": "-t2w", "flair": "-t2f", "seg": "-seg"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("DISPLAY"):
        return
    skip = pytest.mark.skip(reason='no X display (DISPLAY unset): run under xvfb-run -a -s "-screen 0 1280x1024x24"')
    for item in items:
        if item.get_closest_marker("gui") is not None and Path(str(item.fspath)).is_relative_to(GUI_TESTS):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def garbage_collected_on_the_gui_thread() -> Iterator[None]:
    """No automatic garbage collection during a GUI test; the test's cyclic garbage is collected here, on the
    GUI thread. A collection started by a worker thread (case loading, segmentation) could otherwise destroy an
    earlier test's Qt / VTK objects off the GUI thread - a segfault seen in CI. The application does the same
    with ``gui.shell.gc_guard.GuiThreadGarbageCollector``.

    What survives that first collection is frozen (``gc.freeze``): later collections skip it, so the two
    collections per test scan only what tests made since, not the whole of torch, VTK and Qt (0.3-0.6 s each,
    about a third of the GUI tests' time). A frozen object is never collected, so it is never collected off
    the GUI thread either."""
    gc.collect()
    gc.freeze()
    gc.disable()
    yield
    gc.collect()
    gc.enable()


@pytest.fixture(autouse=True)
def user_settings_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's QSettings (window layout, recent studies, settings without an explicit store) live in a fresh
    folder per test: no test reads what an earlier one (or the developer's own RevSeg) saved, none writes ~."""
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("user-settings")
    for settings_format in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(settings_format, QSettings.Scope.UserScope, str(folder))
    yield folder


def synthetic_volumes(shape: tuple[int, int, int] = SYNTHETIC_SHAPE) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Four contrasts and a BraTS-2020 label map of a head-like ellipsoid, in RAS+ voxel order.

    Intensities vary smoothly along every axis (so every slice differs), differ between contrasts, and a
    bright marker block sits in the right-anterior-superior corner. The "tumour" is in the left hemisphere.
    """
    i, j, k = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    head = (i**2 + j**2 + k**2) < 0.85
    pattern = 1.0 + 0.5 * np.sin(3 * i + 1) * np.cos(2 * j) + 0.3 * k
    volumes = {}
    for number, modality in enumerate(("t1", "t1ce", "t2", "flair")):
        data = np.where(head, (100 + 40 * number) * pattern * (1 + 0.3 * number * j), 0.0).astype(np.float32)
        data[MARKER] = MARKER_VALUE
        volumes[modality] = data
    label = np.zeros(shape, dtype=np.uint8)
    tumour_distance = (i + 0.45) ** 2 + j**2 + (k - 0.1) ** 2
    label[tumour_distance < 0.12] = 2
    label[tumour_distance < 0.05] = 4
    label[tumour_distance < 0.02] = 1
    return volumes, label


def write_synthetic_case(
    folder: Path, *, stored: str = "LPS", naming: str = "2020", with_label: bool = True, case_id: str = "SYN-001"
) -> Path:
    """Write the synthetic case as NIfTI files named the BraTS way into ``folder``; returns ``folder``.

    Args:
        folder: created if missing.
        stored: "LPS" stores the voxels flipped along x and y with a matching affine (as BraTS files are);
            "RAS" stores them as they are.
        naming: "2020" (``_t1 _t1ce _t2 _flair _seg``) or "2023" (``-t1n -t1c -t2w -t2f -seg``).
        with_label: also write the label map.
        case_id: file name prefix.
    """
    folder.mkdir(parents=True, exist_ok=True)
    volumes, label = synthetic_volumes()
    affine = np.diag([*SYNTHETIC_SPACING, 1.0])
    affine[:3, 3] = (-20.0, -25.0, -30.0)
    if stored == "LPS":
        flip = np.diag([-1.0, -1.0, 1.0, 1.0])
        flip[:2, 3] = (np.array(SYNTHETIC_SHAPE[:2]) - 1)
        affine = affine @ flip
        volumes = {m: v[::-1, ::-1, :] for m, v in volumes.items()}
        label = label[::-1, ::-1, :]
    elif stored != "RAS":
        raise ValueError(f"stored must be 'LPS' or 'RAS', not {stored!r}")
    names = NAMES_2020 if naming == "2020" else NAMES_2023
    for modality, data in volumes.items():
        nib.save(nib.Nifti1Image(np.ascontiguousarray(data), affine), folder / f"{case_id}{names[modality]}.nii.gz")
    if with_label:
        if naming == "2023":
            label = np.where(label == 4, 3, label).astype(np.uint8)
        nib.save(nib.Nifti1Image(np.ascontiguousarray(label), affine), folder / f"{case_id}{names['seg']}.nii.gz")
    return folder


@pytest.fixture
def synthetic_case(tmp_path: Path) -> Path:
    """A tiny BraTS-2020-named case with labels, stored LPS like BraTS."""
    return write_synthetic_case(tmp_path / "SYN-001")


@pytest.fixture
def workstation(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201 - pytest-qt
    """The whole workstation, shown, with tiny weights and settings in ``tmp_path``; closed afterwards without
    the unsaved-edits question (a test's edits are not kept). Modules that need another teardown define their own."""
    from tests.gui.segment_helpers import shown_workstation

    window = shown_workstation(qtbot, tmp_path, monkeypatch)
    # pytest-qt closes its widgets before fixture teardown: the edits must be discarded first, or closeEvent
    # opens the modal unsaved-edits box and the test hangs (a CI run timed out this way).
    qtbot.addWidget(window, before_close_func=lambda shown: shown.autosave.discard())
    yield window
    window.close()
