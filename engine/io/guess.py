"""Guess which MRI contrast (T1, T1ce, T2, FLAIR) a series or file holds, with a confidence.

Evidence, strongest first: the free text (SeriesDescription, ProtocolName, SequenceName or a file name)
naming the contrast; a contrast agent tag (0018,0010) or post-contrast words; then the acquisition
parameters (inversion time, TR, TE) when the text says nothing. The confidence lets the GUI ask the user to
confirm a weak guess and lets a caller refuse to pick between equal candidates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROLES = ("t1", "t1ce", "t2", "flair")

# Words that mark a series as something other than the four structural contrasts.
_EXCLUDE = re.compile(
    r"\b(LOCALI[SZ]ER|SCOUT|SURVEY|DWI|DTI|ADC|TRACE|DIFFUSION|PERFUSION|PERF|DSC|DCE|ASL|SWI|SWAN|"
    r"T2\*|T2STAR|GRE|MRA|TOF|PHASE|SPECTRO|MRS|FIELDMAP|B0|B1|CALIBRATION|ASSET|PD)\b"
)
_FLAIR = re.compile(r"FLAIR|\bT2F\b|\bDARK[ _-]?FLUID\b|\bT2[ _-]?IR\b")
_POST = re.compile(r"\bPOST\b|\bGD\b|\bGAD\b|GADO|\+C\b|\bCE\b|\bT1CE\b|\bT1C\b|\bT1GD\b|\bC\+|CONTRAST|\bKM\b|\bPOSTGD\b")
_PRE = re.compile(r"\bPRE\b|\bNATIVE?\b|\bT1N\b|\bNON[ _-]?CONTRAST\b|\bWITHOUT\b")
_T1 = re.compile(r"\bT1\w*|MPRAGE|MP[ _-]?RAGE|SPGR|BRAVO|\bTFE\b|\bFFE\b|VIBE|\bT1W\b|\bT1N\b")
_T2 = re.compile(r"\bT2\w*|\bTSE\b|\bFSE\b|\bT2W\b")


@dataclass(frozen=True)
class RoleGuess:
    """A guessed contrast and how sure the guess is.

    Attributes:
        role: one of ``ROLES``, or None when the series is not one of them.
        confidence: 0..1; 0.9 and more when the text names the contrast and the tags agree.
        reason: short human-readable evidence, shown to the user when asking to confirm.
    """

    role: str | None
    confidence: float
    reason: str


def _normalise(text: str) -> str:
    return re.sub(r"[_\-./]+", " ", text.upper())


def guess_from_text(text: str, contrast_agent: bool | None = None) -> RoleGuess:
    """Guess the contrast from free text (series description, protocol or file name).

    Args:
        text: the words to read, e.g. "AX T1 POST GD" or "patient7_flair_ax".
        contrast_agent: True when a contrast agent tag is filled, False when known absent, None if unknown.
    """
    words = _normalise(text)
    if not words.strip():
        return RoleGuess(None, 0.0, "no description")
    if _FLAIR.search(words):
        return RoleGuess("flair", 0.9, f"'{text}' names FLAIR")
    if _EXCLUDE.search(words):
        return RoleGuess(None, 0.8, f"'{text}' is not a structural T1/T2/FLAIR series")
    if _T1.search(words):
        post = bool(_POST.search(words)) and not _PRE.search(words)
        if post or contrast_agent:
            why = "post-contrast words" if post else "a contrast agent tag"
            return RoleGuess("t1ce", 0.9 if post else 0.8, f"'{text}' is T1 with {why}")
        return RoleGuess("t1", 0.85 if contrast_agent is False else 0.75, f"'{text}' is T1 without contrast")
    if _T2.search(words):
        return RoleGuess("t2", 0.8, f"'{text}' names T2")
    return RoleGuess(None, 0.0, f"'{text}' names no contrast")


def guess_from_parameters(
    repetition_ms: float | None, echo_ms: float | None, inversion_ms: float | None, contrast_agent: bool | None
) -> RoleGuess:
    """Guess the contrast from acquisition timing when the text says nothing (weak evidence).

    Args:
        repetition_ms: RepetitionTime (0018,0080).
        echo_ms: EchoTime (0018,0081).
        inversion_ms: InversionTime (0018,0082).
        contrast_agent: as in ``guess_from_text``.
    """
    if inversion_ms and inversion_ms >= 1500 and (echo_ms or 0) >= 60:
        return RoleGuess("flair", 0.5, f"inversion time {inversion_ms:.0f} ms with long TE")
    if repetition_ms is None or echo_ms is None:
        return RoleGuess(None, 0.0, "no timing tags")
    if echo_ms >= 60 and repetition_ms >= 1500:
        return RoleGuess("t2", 0.5, f"TR {repetition_ms:.0f} ms, TE {echo_ms:.0f} ms (T2 weighting)")
    if echo_ms <= 30 and (repetition_ms <= 1000 or inversion_ms):
        role = "t1ce" if contrast_agent else "t1"
        return RoleGuess(role, 0.5, f"TR {repetition_ms:.0f} ms, TE {echo_ms:.0f} ms (T1 weighting)")
    return RoleGuess(None, 0.0, f"TR {repetition_ms:.0f} ms, TE {echo_ms:.0f} ms fit no contrast")


def combine(text_guess: RoleGuess, tag_guess: RoleGuess) -> RoleGuess:
    """Merge text and timing evidence: agreement raises confidence, disagreement lowers it.

    Args:
        text_guess: from ``guess_from_text``.
        tag_guess: from ``guess_from_parameters``.
    """
    if text_guess.role is None and text_guess.confidence >= 0.8:
        return text_guess  # the text says it is something else (localiser, DWI, ...)
    if text_guess.role is None:
        return tag_guess
    if tag_guess.role is None:
        return text_guess
    if tag_guess.role == text_guess.role:
        return RoleGuess(text_guess.role, min(0.99, text_guess.confidence + 0.08), f"{text_guess.reason}; {tag_guess.reason}")
    # T1 vs T1ce disagreements are settled by the contrast evidence the text guess already used.
    if {tag_guess.role, text_guess.role} <= {"t1", "t1ce"}:
        return text_guess
    return RoleGuess(text_guess.role, text_guess.confidence - 0.3, f"{text_guess.reason}, but {tag_guess.reason}")
