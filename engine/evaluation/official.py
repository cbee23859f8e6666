"""Cross-check against the official BraTS evaluation: the ``brats-evaluation`` package (panoptica, glioma config).

The package's glioma config reads label 3 as ET and label 4 as resection cavity, while RevSeg exports ET as 4,
so the pair is written as BraTS 2023 label files (the same arrays that were scored, on the reference's grid)
into a temporary folder and evaluated from there with ``evaluate_single_exam``, the function the package's
``brats-evaluate`` command calls per case. That pipeline works in voxel units (BraTS data is 1 mm isotropic),
so its HD95 is compared with ours only on 1 mm isotropic grids; Dice is compared everywhere.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import logging
import math
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from engine.evaluation.scoring import CaseScores, LabelImage
from engine.labels import REGIONS, to_brats2023

log = logging.getLogger(__name__)

PACKAGE = "brats-evaluation"
CONFIG = "gli"


@dataclass(frozen=True)
class OfficialScores:
    """The official package's Dice and HD95 for one case, and how far ours are from them.

    Attributes:
        dice, hd95: region -> value; None where the package returned NaN or infinity (an empty mask).
        dice_difference: largest |ours - official| Dice over the regions the reference has (None: none compared).
        hd95_difference: the same for HD95 (mm = voxels), only on 1 mm isotropic grids, else None.
        error: the package's error message when it failed on this case.
    """

    dice: dict[str, float | None]
    hd95: dict[str, float | None]
    dice_difference: float | None
    hd95_difference: float | None
    error: str | None = None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep the package's banner and prints off our stdout (it holds the table) and its warnings out of sight."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    if captured.getvalue().strip():
        log.debug("%s said: %s", PACKAGE, captured.getvalue().strip())


class OfficialEvaluator:
    """The official evaluator, loaded once for all cases."""

    def __init__(self) -> None:
        try:
            import brats_evaluation
            import panoptica
        except ImportError:
            raise ValueError(f"--brats-evaluation needs the {PACKAGE} package: pip install '{PACKAGE}>=0.0.10' "
                             "(it is in RevSeg's test extra)") from None
        self._package = brats_evaluation
        with _quiet():
            self._evaluator = panoptica.Panoptica_Evaluator.load_from_config(str(brats_evaluation.config_path(CONFIG)))
        self.version = importlib.metadata.version(PACKAGE)

    def evaluate(self, name: str, prediction: LabelImage, reference: LabelImage) -> dict:
        """The package's raw per-case result for the pair (written as 2023-convention files first).

        Args:
            name: the case name (the package's subject identifier).
            prediction, reference: the label maps that were scored, on one grid.
        """
        with tempfile.TemporaryDirectory(prefix="revseg-brats-evaluation-") as folder:
            paths = []
            for role, image in (("prediction", prediction), ("reference", reference)):
                path = Path(folder) / f"{name}-{role}.nii.gz"
                nib.save(nib.Nifti1Image(to_brats2023(image.label), image.affine), str(path))
                paths.append(str(path))
            with _quiet():
                return self._package.evaluate_single_exam(paths[0], paths[1], name, self._evaluator)

    def score(self, name: str, prediction: LabelImage, reference: LabelImage, ours: CaseScores) -> OfficialScores:
        """Official Dice / HD95 of the pair and their largest differences from ``ours``.

        Args:
            name: the case name.
            prediction, reference: the label maps that were scored.
            ours: our scores of the same pair.
        """
        raw = self.evaluate(name, prediction, reference)
        if "error" in raw:
            log.warning("%s failed on %s: %s", PACKAGE, name, raw["error"])
            return OfficialScores({}, {}, None, None, str(raw["error"]))
        dice = {region: _finite(raw[region.lower()].get("global_bin_dsc")) for region in REGIONS}
        hd95 = {region: _finite(raw[region.lower()].get("global_bin_hd95")) for region in REGIONS}
        compared = [region for region in REGIONS if ours.reference_has[region]]
        one_mm = bool(np.allclose(ours.spacing_mm, 1.0, atol=1e-6))
        return OfficialScores(dice, hd95, _largest_gap(compared, dice, ours, "dice"),
                              _largest_gap(compared, hd95, ours, "hd95") if one_mm else None)


def _finite(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _largest_gap(regions: list[str], official: dict[str, float | None], ours: CaseScores, metric: str) -> float | None:
    """max |ours - official| over ``regions`` where the official value is finite (ours always is)."""
    gaps = [abs(getattr(ours.regions[r], metric) - official[r]) for r in regions if official[r] is not None]
    return max(gaps) if gaps else None
