"""Evaluation of a segmenter on labelled cases (``main.py evaluate``): BraTS Dice / HD95 per region, volumes
and false-positive components, with an optional cross-check by the official ``brats-evaluation`` package.

Modules: ``discovery`` (case layouts and the reference of each case), ``scoring`` (one pair), ``official``
(brats-evaluation), ``run`` (segment or take predictions, then score every case), ``report`` (means, JSON,
table). See docs/evaluation.md.
"""

from engine.evaluation.discovery import EvaluationCase, discover_cases, parse_reference_names
from engine.evaluation.report import evaluation_record, format_table
from engine.evaluation.run import EvaluationConfig, EvaluationResult, evaluate
from engine.evaluation.scoring import FalsePositives, false_positive_components, read_label_map, score_pair

__all__ = ["EvaluationCase", "EvaluationConfig", "EvaluationResult", "FalsePositives", "discover_cases",
           "evaluate", "evaluation_record", "false_positive_components", "format_table", "parse_reference_names",
           "read_label_map", "score_pair"]
