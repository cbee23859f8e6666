"""Settings: the weights file, the device and the minimum lesion volume for segmentation, and the interaction
settings (mouse preset "3D Slicer" / "ITK-SNAP", paint inside the head only), kept in QSettings; the weights'
status line.

The dialog sizes itself to its content: the weights field is wide enough for the chosen path (up to most of the
screen), and the information line wraps (paths break after each "/") with the dialog growing to show it whole.

Without a weights file chosen, RevSeg uses the bundled weights (``engine.segment.BUNDLED_WEIGHTS``) when they
exist; otherwise Segment says "No weights - choose a weights file in Settings". Weights whose metadata mark
them as demo weights put "Demo weights - not for clinical use" in the status bar.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.inference.postprocess import DEFAULT_MIN_COMPONENT_ML
from engine.segment import BUNDLED_WEIGHTS
from gui.menus import make_action, menu_named
from gui.settings_store import (
    INTERACTION_PRESETS,
    InteractionSettings,
    app_settings,
    load_interaction_settings,
    save_interaction_settings,
)

log = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda")
NO_WEIGHTS = "No weights - choose a weights file in Settings"
DEMO_STATUS = "Demo weights - not for clinical use"
_WEIGHTS_KEY, _DEVICE_KEY = "segmentation/weights", "segmentation/device"
_MIN_LESION_KEY = "segmentation/min_lesion_ml"
MAX_MIN_LESION_ML = 100.0  # the spin box's upper end: a larger "minimum lesion" would remove real tumours


def available_devices() -> tuple[str, ...]:
    """The device choices that exist here: "cuda" only when PyTorch sees a CUDA GPU."""
    import torch  # imported here: the dialog opens long after start-up, and torch is slow to import

    return DEVICE_CHOICES if torch.cuda.is_available() else tuple(d for d in DEVICE_CHOICES if d != "cuda")


@dataclass(frozen=True)
class SegmentationSettings:
    """What Segment uses.

    Attributes:
        weights: the chosen weights file, or None for the bundled weights.
        device: "auto", "cpu" or "cuda".
        min_lesion_ml: tumour components smaller than this (mL) are removed
            (``PostprocessConfig.min_component_ml``); 0 keeps every component.
    """

    weights: Path | None = None
    device: str = "auto"
    min_lesion_ml: float = DEFAULT_MIN_COMPONENT_ML

    @property
    def effective_weights(self) -> Path | None:
        """The file Segment will load: the chosen one, else the bundled one if present, else None."""
        if self.weights is not None:
            return self.weights
        return BUNDLED_WEIGHTS if BUNDLED_WEIGHTS.is_file() else None


def load_settings(store: QSettings) -> SegmentationSettings:
    """Read the settings (unknown devices fall back to auto, unreadable or negative volumes to the default)."""
    weights = str(store.value(_WEIGHTS_KEY, "") or "")
    device = str(store.value(_DEVICE_KEY, "auto") or "auto")
    return SegmentationSettings(Path(weights) if weights else None, device if device in DEVICE_CHOICES else "auto",
                                _stored_volume(store.value(_MIN_LESION_KEY, DEFAULT_MIN_COMPONENT_ML)))


def _stored_volume(value: object) -> float:
    """A volume read from QSettings (stored as text by some backends); the default when it is not usable."""
    try:
        volume = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_MIN_COMPONENT_ML
    return volume if 0.0 <= volume <= MAX_MIN_LESION_ML else DEFAULT_MIN_COMPONENT_ML


def save_settings(store: QSettings, settings: SegmentationSettings) -> None:
    store.setValue(_WEIGHTS_KEY, str(settings.weights) if settings.weights else "")
    store.setValue(_DEVICE_KEY, settings.device)
    store.setValue(_MIN_LESION_KEY, settings.min_lesion_ml)
    store.sync()


@dataclass(frozen=True)
class WeightsInfo:
    """What a weights file's header says (read without loading the tensors).

    Attributes:
        path: the file; demo: marked as demo weights; problem: why it cannot be used ("" when fine).
    """

    path: Path
    demo: bool
    problem: str = ""


def read_weights_info(path: Path) -> WeightsInfo:
    """The demo flag of a RevSeg checkpoint from its safetensors header (``training`` or ``extra``)."""
    from safetensors import safe_open

    if not path.is_file():
        return WeightsInfo(path, False, f"{path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as reader:
            metadata = reader.metadata() or {}
    except Exception as error:  # noqa: BLE001 - any unreadable file is reported, not raised
        return WeightsInfo(path, False, f"{path.name} is not a safetensors file ({error})")
    if metadata.get("format") != "revseg-checkpoint":
        return WeightsInfo(path, False, f"{path.name} is not a RevSeg checkpoint")
    demo = False
    for key in ("training", "extra"):
        try:
            value = json.loads(metadata.get(key) or "null")
        except json.JSONDecodeError:
            value = None
        demo = demo or (isinstance(value, dict) and bool(value.get("demo")))
    return WeightsInfo(path, demo)


def weights_status(settings: SegmentationSettings) -> tuple[str, bool]:
    """The status-bar text for ``settings`` and whether Segment can run."""
    path = settings.effective_weights
    if path is None:
        return NO_WEIGHTS, False
    info = read_weights_info(path)
    if info.problem:
        return f"Weights unusable: {info.problem}", False
    text = f"Weights: {path.name} ({settings.device})"
    return (f"{text} - {DEMO_STATUS}" if info.demo else text), True


_BREAK_AFTER_SLASH = "/\u200b"  # a zero-width space after "/" lets a long path wrap inside the info line
_FIELD_MARGIN_PX = 24
_WEIGHTS_TIP = "Checkpoint (.safetensors) written by the RevSeg trainer; empty = bundled weights"


def wrappable(text: str) -> str:
    """``text`` with a break opportunity after every "/" (a label cannot wrap a long path otherwise)."""
    return text.replace("/", _BREAK_AFTER_SLASH)


class SettingsDialog(QDialog):
    """Choose the weights file, the device, the minimum lesion volume and the interaction settings."""

    def __init__(self, settings: SegmentationSettings, parent: QWidget | None = None,
                 interaction: InteractionSettings | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.weights_edit = QLineEdit(str(settings.weights) if settings.weights else "")
        self.weights_edit.setPlaceholderText(f"bundled weights ({BUNDLED_WEIGHTS.name})")
        self.weights_edit.setToolTip(_WEIGHTS_TIP)
        browse = QPushButton("Browse...")
        browse.setToolTip("Choose a weights file")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.weights_edit, 1)
        row.addWidget(browse)
        self.device_combo = QComboBox()
        self.device_combo.addItems(available_devices())  # only devices this computer has
        self.device_combo.setCurrentText(settings.device if settings.device in available_devices() else "auto")
        self.device_combo.setToolTip("auto: the GPU when there is one, else the CPU"
                                     + ("" if "cuda" in available_devices() else " (this computer has no CUDA GPU)"))
        self.min_lesion_spin = QDoubleSpinBox()
        self.min_lesion_spin.setRange(0.0, MAX_MIN_LESION_ML)
        self.min_lesion_spin.setDecimals(3)  # 0.001 mL is one 1 mm voxel of the working grid
        self.min_lesion_spin.setSingleStep(0.05)
        self.min_lesion_spin.setSuffix(" mL")
        self.min_lesion_spin.setValue(settings.min_lesion_ml)
        self.min_lesion_spin.setToolTip("Tumour components smaller than this are removed from the AI result; "
                                        "0 keeps every component")
        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        interaction = interaction or InteractionSettings()
        self.preset_combo = QComboBox()
        for key, title in INTERACTION_PRESETS.items():
            self.preset_combo.addItem(title, key)
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(interaction.preset))
        self.preset_combo.setToolTip("3D Slicer: left drag sets window/level. ITK-SNAP: left drag moves the "
                                     "crosshair. Both: wheel = slice, right drag = zoom, middle drag = pan")
        self.foreground_check = QCheckBox("Paint inside the head only")
        self.foreground_check.setChecked(interaction.paint_foreground_only)
        self.foreground_check.setToolTip("The brush leaves the air around the head (the image's background) "
                                         "unpainted; the eraser works everywhere")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow("Weights file", row)
        form.addRow("Device", self.device_combo)
        form.addRow("Minimum lesion volume", self.min_lesion_spin)
        form.addRow("Mouse preset", self.preset_combo)
        form.addRow("Brush", self.foreground_check)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # grows when the info line wraps
        layout.addLayout(form)
        layout.addWidget(self.info_label)
        layout.addWidget(self.buttons)
        self.weights_edit.textChanged.connect(self._update_info)
        self.weights_edit.textChanged.connect(self._fit_weights_field)
        self._fit_weights_field()
        self._update_info()

    def _fit_weights_field(self) -> None:
        """Wide enough for the whole path (or the placeholder), at most 70 % of the screen; a longer path shows
        its end (the file name) and the whole of it in the tooltip."""
        edit = self.weights_edit
        text = edit.text() or edit.placeholderText()
        screen = (self.screen() or edit.screen()).availableGeometry().width()
        wanted = edit.fontMetrics().horizontalAdvance(text) + _FIELD_MARGIN_PX
        edit.setMinimumWidth(min(wanted, int(screen * 0.7)))
        self.info_label.setMinimumWidth(edit.minimumWidth())
        too_long = wanted > edit.minimumWidth()
        edit.setToolTip(edit.text() if too_long else _WEIGHTS_TIP)
        if too_long and not edit.hasFocus():
            edit.setCursorPosition(len(edit.text()))

    def _show_info(self, html: str) -> None:
        self.info_label.setText(html)
        self.layout().activate()  # the dialog grows now, not after the next event

    def interaction_settings(self) -> InteractionSettings:
        return InteractionSettings(str(self.preset_combo.currentData()), self.foreground_check.isChecked())

    def settings(self) -> SegmentationSettings:
        text = self.weights_edit.text().strip()
        return SegmentationSettings(Path(text).expanduser() if text else None, self.device_combo.currentText(),
                                    self.min_lesion_spin.value())

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose Weights", self.weights_edit.text() or str(Path.home()),
                                              "RevSeg weights (*.safetensors);;All files (*)")
        if path:
            self.weights_edit.setText(path)

    def _update_info(self) -> None:
        self._show_info(wrappable(weights_status(self.settings())[0]))

    def _accept(self) -> None:
        text, usable = weights_status(self.settings())
        if not usable and self.settings().weights is not None:
            self._show_info(f"<b>{wrappable(text)}</b>")  # refuse a file that cannot be loaded
            return
        self.accept()


class SettingsController(QObject):
    """Owns the settings, the Settings... action and the weights status in the status bar.

    Signals:
        changed(): the settings were changed.
    """

    changed = Signal()

    def __init__(self, window: QMainWindow, store: QSettings | None = None) -> None:
        super().__init__(window)
        self.window, self.store = window, store or app_settings()
        self.settings = load_settings(self.store)
        self.interaction = load_interaction_settings(self.store)
        self.dialog: SettingsDialog | None = None
        self.status_label = QLabel()
        self.status_label.setToolTip("Weights and device used by Segment (Segmentation > Settings...)")
        window.statusBar().addPermanentWidget(self.status_label)
        self.action = make_action(window, "Se&ttings...", self.open_dialog,
                                  "Choose the weights file, the device and the minimum lesion volume for "
                                  "segmentation, the mouse preset and the paint limit", "Ctrl+,")
        menu_named(window, "&Segmentation").addAction(self.action)
        self._refresh()
        self._apply_preset()

    @property
    def status_text(self) -> str:
        return self.status_label.text()

    def apply(self, settings: SegmentationSettings) -> None:
        """Store ``settings`` and update the status bar."""
        self.settings = settings
        save_settings(self.store, settings)
        self._refresh()
        self.changed.emit()

    def apply_interaction(self, interaction: InteractionSettings) -> None:
        """Store the interaction settings and hand the mouse preset to the window's views."""
        self.interaction = interaction
        save_interaction_settings(self.store, interaction)
        self._apply_preset()
        self.changed.emit()

    def _apply_preset(self) -> None:
        set_preset = getattr(self.window, "set_interaction_preset", None)
        if set_preset is not None:
            set_preset(self.interaction.preset)

    def open_dialog(self) -> SettingsDialog:
        """Show the (window-modal) dialog; OK applies its settings."""
        self.dialog = SettingsDialog(self.settings, self.window, self.interaction)
        self.dialog.accepted.connect(self._apply_dialog)
        self.dialog.open()
        return self.dialog

    def _apply_dialog(self) -> None:
        dialog = self.dialog
        if dialog is None:
            return
        self.interaction = dialog.interaction_settings()
        save_interaction_settings(self.store, self.interaction)
        self._apply_preset()
        self.apply(dialog.settings())  # emits changed once for both

    def _refresh(self) -> None:
        text, usable = weights_status(self.settings)
        self.status_label.setText(text)
        self.status_label.setStyleSheet("" if usable and "Demo" not in text else "color: #e0a030;")


def install(window: QMainWindow, store: QSettings | None = None) -> SettingsController:
    """Add Segmentation > Settings... and the weights status to ``window``."""
    return SettingsController(window, store)
