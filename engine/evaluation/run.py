"""Evaluate a folder of labelled cases: segment each with the product's own pipeline (or take existing
predictions), then score it against its reference.

Segmenting goes through ``engine.segment.segment_case`` with one segmenter loaded for all cases, and the score
is computed from the NIfTI file it wrote, so the evaluation measures exactly what the product exports.
Everything that can be checked before the long part (references, existing outputs, prediction grids) is checked
first, so a bad input fails in seconds rather than after an hour of segmenting.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.evaluation.discovery import EvaluationCase, discover_cases
from engine.evaluation.official import OfficialEvaluator, OfficialScores
from engine.evaluation.scoring import CaseScores, check_same_grid, read_label_map, score_pair

if TYPE_CHECKING:  # annotations only: engine.segment pulls in torch, which --predictions runs do not need
    from engine.inference.postprocess import PostprocessConfig
    from engine.segment import Segmenter

log = logging.getLogger(__name__)

CaseProgress = Callable[[int, int, str, str], None]
"""``progress(index, total, case_name, stage)`` with index counting from 1; stages: segment, score,
brats-evaluation."""


@dataclass(frozen=True)
class EvaluationConfig:
    """What to evaluate and how.

    Attributes:
        data: a case folder or a folder of case folders.
        reference: reference names in order of preference (``reference/NAME.nii.gz``).
        weights: checkpoint to segment with (None: the bundled weights).
        device: inference device ("auto", "cpu", "cuda", ...).
        tta: mirroring test-time augmentation when segmenting (8 flips, 8x slower).
        postprocess: post-processing settings when segmenting (None: the engine's defaults).
        predictions: score the existing ``<predictions>/<case>.nii.gz`` instead of segmenting.
        save_predictions: where segmenting writes ``<case>.nii.gz`` (and its sidecar); needed without
            ``predictions``.
        brats_evaluation: also score every case with the official ``brats-evaluation`` package.
        force: overwrite predictions that already exist in ``save_predictions``.
    """

    data: Path
    reference: tuple[str, ...] = ()
    weights: Path | None = None
    device: str = "auto"
    tta: bool = False
    postprocess: PostprocessConfig | None = None
    predictions: Path | None = None
    save_predictions: Path | None = None
    brats_evaluation: bool = False
    force: bool = False


@dataclass(frozen=True)
class CaseResult:
    """One scored case.

    Attributes:
        case: the case and its reference.
        prediction: the scored label map file.
        reference_convention: "brats2023", "brats2020" or "no ET" (decided from the reference's values).
        scores: our metrics.
        official: the official package's metrics (with --brats-evaluation).
        provenance: weights file / SHA-256, device and post-processing of the prediction (from its sidecar).
    """

    case: EvaluationCase
    prediction: Path
    reference_convention: str
    scores: CaseScores
    official: OfficialScores | None
    provenance: dict[str, Any]


@dataclass(frozen=True)
class EvaluationResult:
    """The whole run: scored cases, skipped ones (no reference) and the settings that produced them."""

    config: EvaluationConfig
    cases: list[CaseResult]
    skipped: list[EvaluationCase]
    weights: dict[str, Any] | None
    official_version: str | None
    date: str = field(default_factory=lambda: dt.datetime.now().astimezone().isoformat(timespec="seconds"))


def evaluate(config: EvaluationConfig, progress: CaseProgress | None = None) -> EvaluationResult:
    """Segment (or take the predictions of) every labelled case of ``config.data`` and score it.

    Args:
        config: what to evaluate.
        progress: called before each stage of each case.

    Raises:
        ValueError: no labelled case, an ambiguous reference, missing or mis-gridded predictions, existing
            outputs without ``force``, or a case that fails to segment.
    """
    cases = discover_cases(config.data, config.reference)
    labelled = [case for case in cases if case.reference is not None]
    skipped = [case for case in cases if case.reference is None]
    if not labelled:
        raise ValueError(f"none of the {len(cases)} case folder(s) under {config.data} has a reference label map "
                         "(CASE_seg.nii.gz, CASE-seg.nii.gz or reference/NAME.nii.gz)")
    targets = _prediction_targets(config, labelled)
    segmenter = None if config.predictions is not None else _load_segmenter(config)
    official = OfficialEvaluator() if config.brats_evaluation else None
    results = [_evaluate_case(case, targets[case.name], segmenter, official, config.force,
                              functools.partial(_report, progress, index, len(labelled), case.name))
               for index, case in enumerate(labelled, start=1)]
    weights = _segmenter_weights(segmenter) if segmenter is not None else None
    return EvaluationResult(config, results, skipped, weights, official.version if official else None)


def _report(progress: CaseProgress | None, index: int, total: int, name: str, stage: str) -> None:
    if progress is not None:
        progress(index, total, name, stage)


def _prediction_targets(config: EvaluationConfig, cases: list[EvaluationCase]) -> dict[str, Path]:
    """``<folder>/<case>.nii.gz`` per case, checked up front: existing and on the reference grid (to score),
    or not yet there (to segment, unless ``force``)."""
    folder = config.predictions if config.predictions is not None else config.save_predictions
    if folder is None:
        raise ValueError("evaluate needs a folder for the predictions: --save-predictions DIR, or --predictions DIR")
    targets = {case.name: folder / f"{case.name}.nii.gz" for case in cases}
    for case in cases:
        target = targets[case.name]
        if config.predictions is not None:
            if not target.is_file():
                raise ValueError(f"no prediction {target} for case {case.name}; --predictions DIR must hold "
                                 "<case>.nii.gz for every labelled case (segment --batch writes that layout)")
            check_same_grid(target, case.reference)  # type: ignore[arg-type] - labelled cases have one
        elif target.exists() and not config.force:
            raise ValueError(f"{target} already exists; re-score existing predictions with --predictions {folder}, "
                             "or pass --force to segment again")
    return targets


def _load_segmenter(config: EvaluationConfig) -> Segmenter:
    from engine.inference.predictor import PredictorConfig
    from engine.segment import load_segmenter

    return load_segmenter(config.weights, PredictorConfig(device=config.device, tta=config.tta), config.postprocess)


def _segmenter_weights(segmenter: Segmenter) -> dict[str, Any]:
    checkpoint = segmenter.checkpoint
    return {"path": str(checkpoint.path), "sha256": checkpoint.sha256, "demo": segmenter.demo}


def _evaluate_case(case: EvaluationCase, target: Path, segmenter: Segmenter | None,
                   official: OfficialEvaluator | None, force: bool, stage: Callable[[str], None]) -> CaseResult:
    """Segment (when a segmenter is given) and score one case."""
    if segmenter is not None:
        stage("segment")
        _segment(case, target, segmenter, force)
    provenance = sidecar_provenance(target)  # what segment wrote, or what made the predictions given
    stage("score")
    check_same_grid(target, case.reference)  # type: ignore[arg-type] - only labelled cases come here
    reference, prediction = read_label_map(case.reference), read_label_map(target)  # type: ignore[arg-type]
    scores = score_pair(prediction, reference)
    checked = None
    if official is not None:
        stage("brats-evaluation")
        checked = official.score(case.name, prediction, reference, scores)
    log.info("case %s: Dice %s", case.name, {k: round(v.dice, 4) for k, v in scores.regions.items()})
    return CaseResult(case, target, reference.convention, scores, checked, provenance)


def _segment(case: EvaluationCase, target: Path, segmenter: Segmenter, force: bool) -> None:
    from engine.segment import segment_case

    try:
        segment_case(case.folder, None, target, segmenter=segmenter, force=force)
    except ValueError as error:
        raise ValueError(f"case {case.name}: {error}") from None


def sidecar_provenance(prediction: Path) -> dict[str, Any]:
    """Weights file / SHA-256, device and post-processing settings recorded in a prediction's JSON sidecar
    (empty without a sidecar)."""
    # engine.segment.sidecar_path names it too, but importing engine.segment would load torch for a re-score.
    name = prediction.name.removesuffix(".gz").removesuffix(".nii")
    sidecar = prediction.with_name(name + ".json")
    if not sidecar.is_file():
        return {}
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("cannot read the sidecar %s: %s", sidecar, error)
        return {}
    model, inference = record.get("model") or {}, record.get("inference") or {}
    return {"weights_file": model.get("weights_file"), "weights_sha256": model.get("weights_sha256"),
            "device": inference.get("device"), "postprocessing": record.get("postprocessing")}
