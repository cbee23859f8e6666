"""The evaluation's outputs: means, the JSON record and the plain-text table.

A region's Dice and HD95 are n/a (JSON null) for a case whose reference lacks that region (typically ET): the
BraTS convention would give Dice 1 when we predict none as well and 0 after a single false voxel, which says
more about the convention than about the model, so such cases are left out of that region's mean and the
output says over how many cases each mean was taken. Volumes and false-positive components are averaged over
all scored cases (a false ET in a case without ET is exactly what they are there to show).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import __version__
from engine.evaluation.run import CaseResult, EvaluationResult
from engine.labels import REGIONS

FORMAT = "revseg-evaluation/1"
FP_FIELDS = {"wt_components": "wt_count", "wt_ml": "wt_ml", "et_components": "et_count", "et_ml": "et_ml",
             "largest_et_fp_ml": "largest_et_ml"}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _region_scores(case: CaseResult, metric: str) -> dict[str, float | None]:
    scores = case.scores
    return {r: getattr(scores.regions[r], metric) if scores.reference_has[r] else None for r in REGIONS}


def mean_scores(cases: list[CaseResult]) -> dict[str, Any]:
    """Means over the scored cases; each region's Dice / HD95 only over cases whose reference has it."""
    dice = {r: _mean([v for c in cases if (v := _region_scores(c, "dice")[r]) is not None]) for r in REGIONS}
    hd95 = {r: _mean([v for c in cases if (v := _region_scores(c, "hd95")[r]) is not None]) for r in REGIONS}
    counted = {r: sum(c.scores.reference_has[r] for c in cases) for r in REGIONS}
    volumes = {r: {side: _mean([c.scores.volumes_ml[r][side] for c in cases]) for side in ("ours", "reference")}
               for r in REGIONS}
    fp = {key: _mean([getattr(c.scores.false_positives, attr) for c in cases]) for key, attr in FP_FIELDS.items()}
    mean = {"cases": len(cases), "cases_averaged": counted, "dice": dice, "hd95": hd95, "volumes_ml": volumes,
            "false_positives": fp}
    checked = [c.official for c in cases if c.official is not None and c.official.error is None]
    if checked:
        mean["brats_evaluation"] = _official_mean(cases)
    return mean


def _official_mean(cases: list[CaseResult]) -> dict[str, Any]:
    """Mean official Dice / HD95 over the same cases as ours, and the largest differences seen."""
    def values(metric: str, region: str) -> list[float]:
        return [v for c in cases if c.official is not None and c.scores.reference_has[region]
                and (v := getattr(c.official, metric).get(region)) is not None]

    gaps = {m: [g for c in cases if c.official is not None and (g := getattr(c.official, f"{m}_difference")) is not None]
            for m in ("dice", "hd95")}
    return {"dice": {r: _mean(values("dice", r)) for r in REGIONS},
            "hd95": {r: _mean(values("hd95", r)) for r in REGIONS},
            "max_dice_difference": max(gaps["dice"], default=None),
            "max_hd95_difference": max(gaps["hd95"], default=None)}


def case_record(case: CaseResult) -> dict[str, Any]:
    """The JSON record of one case."""
    scores = case.scores
    record: dict[str, Any] = {
        "case": case.case.name, "folder": str(case.case.folder),
        "reference": {"path": str(case.case.reference), "name": case.case.reference_name,
                      "convention": case.reference_convention},
        "prediction": {"path": str(case.prediction), **case.provenance},
        "spacing_mm": list(scores.spacing_mm), "reference_has": dict(scores.reference_has),
        "dice": _region_scores(case, "dice"), "hd95": _region_scores(case, "hd95"),
        "volumes_ml": scores.volumes_ml,
        "false_positives": {key: getattr(scores.false_positives, attr) for key, attr in FP_FIELDS.items()},
    }
    if case.official is not None:
        official = case.official
        record["brats_evaluation"] = {"dice": official.dice, "hd95": official.hd95,
                                      "dice_difference": official.dice_difference,
                                      "hd95_difference": official.hd95_difference, "error": official.error}
    return record


def settings_record(result: EvaluationResult) -> dict[str, Any]:
    """Where the numbers came from: data, reference, weights (path and SHA-256), device, date, versions."""
    config = result.config
    weights = result.weights
    if weights is None:  # --predictions: the weights are whatever the sidecars say
        shas = {c.provenance.get("weights_sha256") for c in result.cases} - {None}
        weights = {"path": None, "sha256": next(iter(shas)) if len(shas) == 1 else None,
                   "source": "prediction sidecars" if shas else "unknown (no sidecars)"}
    return {"data": str(config.data), "reference": list(config.reference) or None,
            "mode": "predictions" if config.predictions is not None else "segment",
            "predictions": str(config.predictions or config.save_predictions), "weights": weights,
            "device": config.device, "tta": config.tta,
            "devices_used": sorted({d for c in result.cases if (d := c.provenance.get("device"))}),
            "date": result.date, "revseg_version": __version__,
            "brats_evaluation": result.official_version}


def notes(result: EvaluationResult) -> list[str]:
    """Plain sentences on what the means cover and which cases were skipped."""
    total, lines = len(result.cases), []
    for region in REGIONS:
        counted = sum(c.scores.reference_has[region] for c in result.cases)
        if counted < total:
            lines.append(f"{region} Dice/HD95: mean over the {counted} of {total} cases whose reference has {region} "
                         "(n/a for the others)")
    lines += [f"skipped {case.name}: no reference label map" for case in result.skipped]
    if result.official_version is not None:
        lines.append(f"brats-evaluation {result.official_version} (glioma config) scored the same label maps; its "
                     "HD95 is in voxels (compared with ours on 1 mm grids only) and infinite (n/a, not compared) "
                     "when a mask is empty or the masks do not overlap")
    return lines


def evaluation_record(result: EvaluationResult) -> dict[str, Any]:
    """The whole JSON document."""
    return {"format": FORMAT, "settings": settings_record(result),
            "cases": [case_record(case) for case in result.cases], "mean": mean_scores(result.cases),
            "skipped": [{"case": c.name, "folder": str(c.folder), "reason": "no reference label map"}
                        for c in result.skipped],
            "notes": notes(result)}


def _number(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]], left: int = 2) -> list[str]:
    """Align columns: the first ``left`` to the left, the others to the right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    return [line(row) for row in [header, *rows]]


HEADER = (["case", "reference"] + [f"Dice {r}" for r in REGIONS] + [f"HD95 {r}" for r in REGIONS]
          + [f"{r} mL ours/ref" for r in REGIONS] + ["FP WT n/mL", "FP ET n/mL", "FP ET max mL"])


def _row(name: str, reference: str, dice: dict, hd95: dict, volumes: dict, fp: dict) -> list[str]:
    return ([name, reference] + [_number(dice[r], 3) for r in REGIONS] + [_number(hd95[r], 2) for r in REGIONS]
            + [f"{_number(volumes[r]['ours'], 2)}/{_number(volumes[r]['reference'], 2)}" for r in REGIONS]
            + [f"{_count(fp['wt_components'])}/{fp['wt_ml']:.2f}", f"{_count(fp['et_components'])}/{fp['et_ml']:.2f}",
               f"{fp['largest_et_fp_ml']:.2f}"])


def _count(value: float) -> str:
    """A case's component count as an integer, the mean row's as a decimal."""
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def format_table(result: EvaluationResult) -> str:
    """One row per case, then the mean row, then the notes (and the official scores with --brats-evaluation)."""
    record = evaluation_record(result)
    rows = [_row(c["case"], c["reference"]["name"], c["dice"], c["hd95"], c["volumes_ml"], c["false_positives"])
            for c in record["cases"]]
    mean = record["mean"]
    cases = f"{mean['cases']} case" + ("s" if mean["cases"] != 1 else "")
    rows.append(_row("mean", cases, mean["dice"], mean["hd95"], mean["volumes_ml"], mean["false_positives"]))
    lines = _table(HEADER, rows) + [f"note: {line}" for line in record["notes"]]
    if result.official_version is not None:
        lines += ["", *_official_table(record)]
    return "\n".join(lines)


def _gap(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1e}"


def _official_table(record: dict[str, Any]) -> list[str]:
    header = (["case", "brats-evaluation"] + [f"Dice {r}" for r in REGIONS] + [f"HD95 {r}" for r in REGIONS]
              + ["max |dDice|", "max |dHD95|"])
    rows = []
    for case in record["cases"]:
        official = case["brats_evaluation"]
        if official["error"]:
            rows.append([case["case"], f"error: {official['error']}"] + [""] * (len(header) - 2))
            continue
        rows.append([case["case"], "official"] + [_number(official["dice"][r], 3) for r in REGIONS]
                    + [_number(official["hd95"][r], 2) for r in REGIONS]
                    + [_gap(official["dice_difference"]), _gap(official["hd95_difference"])])
    return _table(header, rows)
