"""Severity words in progression descriptions, the way the paper's Fig. 9 prompts them.

    apply_severity("small left effusion", "large")        -> "large left effusion"
    apply_severity("new right pleural effusion", "slight") -> "new slight right pleural effusion"
    apply_severity("no pneumothorax", "large")            -> "no pneumothorax" (negated: untouched)

An existing size word is replaced; otherwise the severity is inserted before the
first finding that is not negated. A description with no such finding is returned
unchanged, and `SeverityResult.applied` says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEVERITIES = ("slight", "moderate", "large")

# Size words radiologists use, longest first so "moderate to large" wins over "moderate".
_SIZE_WORDS = [
    "small to moderate", "small-to-moderate", "moderate to large", "moderate-to-large",
    "moderate to severe", "mild to moderate", "mild-to-moderate",
    "very small", "very large", "tiny", "trace", "trivial", "minimal", "minimally", "small", "mild", "mildly",
    "slight", "slightly", "moderate", "moderately", "large", "massive", "huge", "big", "substantial",
    "extensive", "severe", "severely", "marked", "markedly", "significant",
]
_FINDINGS = [
    "pleural effusions?", "effusions?", "pneumothora(?:x|ces)", "cardiomegaly", "cardiac silhouette",
    "heart size", "edema", "atelectasis", "consolidations?", "opacit(?:y|ies)", "opacification",
    "pneumonia", "infiltrates?", "congestion",
]
_NEGATIONS = [
    r"\bno\b", r"\bnot\b", r"\bwithout\b", r"\bnegative for\b", r"\bfree of\b", r"\babsence of\b",
    r"\bresolved\b", r"\bresolution of\b", r"\bresolving\b", r"\bclear(?:ed)?\b", r"\brule out\b",
]
_SIZE_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in _SIZE_WORDS) + r")\b", re.IGNORECASE)
_FINDING_RE = re.compile(r"\b(" + "|".join(_FINDINGS) + r")\b", re.IGNORECASE)
# Words that belong to the finding phrase and stay between the severity and the finding.
_PHRASE_PREFIX_RE = re.compile(
    r"((?:\b(?:left|right|bilateral|bibasilar|basilar|apical|l|r|(?:left|right)-sided|pleural|pulmonary|"
    r"interstitial|perihilar|lobar|lower lobe|upper lobe|middle lobe|loculated|layering)\s+)*)$",
    re.IGNORECASE,
)
# Change words that take an adverb when the description names no size ("slightly increased edema").
_CHANGE_RE = re.compile(
    r"\b(increased|increasing|decreased|decreasing|worsened|worsening|improved|improving|enlarged|enlarging|"
    r"progressed|progressive)\s+$",
    re.IGNORECASE,
)
# Findings whose size is stated after them ("the cardiac silhouette appears enlarged").
_SIZE_AFTER_RE = re.compile(r"^(?:\s+\w+){0,3}?\s+(enlarged|increased|decreased|larger|smaller)\b", re.IGNORECASE)
_SIZE_AFTER_FINDINGS = ("cardiac silhouette", "heart size")
# A clause boundary ends the reach of a negation ("no pneumothorax, new effusion").
_CLAUSE_RE = re.compile(r"[.;,:]|\b(?:but|and|with|however)\b", re.IGNORECASE)


@dataclass(frozen=True)
class SeverityResult:
    text: str
    applied: bool


def apply_severity(text: str, severity: str | None) -> SeverityResult:
    """Put `severity` (slight | moderate | large, or None for no change) into `text`."""
    if severity is None or severity == "":
        return SeverityResult(text, False)
    severity = severity.lower().strip()
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")

    for finding in _FINDING_RE.finditer(text):
        if _is_negated(text, finding.start()):
            continue
        clause_start = _clause_start(text, finding.start())
        size = None
        for candidate in _SIZE_RE.finditer(text, clause_start, finding.start()):
            size = candidate
        if size is not None:
            replacement = _match_case(size.group(0), _adverb(severity) if size.group(0).lower().endswith("ly") else severity)
            return SeverityResult(text[: size.start()] + replacement + text[size.end() :], True)
        if finding.group(0).lower() in _SIZE_AFTER_FINDINGS:
            after = _SIZE_AFTER_RE.search(text[finding.end() : _clause_end(text, finding.end())])
            if after is None:
                continue
            at = finding.end() + after.start(1)
            return SeverityResult(text[:at] + _adverb(severity) + " " + text[at:], True)
        prefix = _PHRASE_PREFIX_RE.search(text[clause_start : finding.start()])
        insert_at = clause_start + prefix.start(1) if prefix else finding.start()
        change = _CHANGE_RE.search(text[clause_start:insert_at])
        if change:
            at = clause_start + change.start(1)
            adverb = _adverb(severity)
            if at == 0 and text[:1].isupper():
                return SeverityResult(adverb.capitalize() + " " + text[0].lower() + text[1:], True)
            return SeverityResult(text[:at] + adverb + " " + text[at:], True)
        word = severity
        if insert_at == 0:
            word = severity.capitalize() if text[:1].isupper() else severity
            rest = text[0].lower() + text[1:] if text[:1].isupper() and not text[:2].isupper() else text
            return SeverityResult(f"{word} {rest}", True)
        new_text = text[:insert_at] + word + " " + text[insert_at:]
        return SeverityResult(_fix_article(new_text, insert_at), True)
    return SeverityResult(text, False)


def _clause_start(text: str, position: int) -> int:
    start = 0
    for boundary in _CLAUSE_RE.finditer(text, 0, position):
        start = boundary.end()
    while start < position and text[start].isspace():
        start += 1
    return start


def _clause_end(text: str, position: int) -> int:
    boundary = _CLAUSE_RE.search(text, position)
    return boundary.start() if boundary else len(text)


def _is_negated(text: str, position: int) -> bool:
    clause = text[_clause_start(text, position) : position]
    return any(re.search(pattern, clause, re.IGNORECASE) for pattern in _NEGATIONS)


def _adverb(severity: str) -> str:
    return {"slight": "slightly", "moderate": "moderately", "large": "markedly"}[severity]


def _match_case(original: str, word: str) -> str:
    return word.capitalize() if original[:1].isupper() else word


def _fix_article(text: str, insert_at: int) -> str:
    """'an effusion' + 'moderate' must read 'a moderate effusion'."""
    before = text[:insert_at]
    match = re.search(r"\b(an|An)\s+$", before)
    if match:
        article = "a" if match.group(1) == "an" else "A"
        return before[: match.start(1)] + article + before[match.end(1) :] + text[insert_at:]
    return text
