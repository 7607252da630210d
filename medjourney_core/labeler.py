"""A CheXpert-style rule labeler: mention, negation and uncertainty for the 14 observations.

    label_report("Small left effusion. No pneumothorax. Possible early pneumonia.")
    -> {"Pleural Effusion": 1.0, "Pneumothorax": 0.0, "Pneumonia": -1.0, ..., "No Finding": None}

Values follow the CheXpert CSVs: 1.0 positive, 0.0 negative, -1.0 uncertain, None not mentioned.
Per observation, a positive mention wins over an uncertain one, which wins over a negated one.
Each sentence is cut into clauses; a negation or uncertainty cue reaches the mentions of its clause.
"""

from __future__ import annotations

import re

from .phantom.text import CHEXPERT

MENTIONS: dict[str, list[str]] = {
    "Atelectasis": [r"atelecta\w*", r"collapse[d]?", r"volume loss"],
    "Cardiomegaly": [r"cardiomegaly", r"cardiac enlargement", r"enlarged (?:heart|cardiac silhouette)",
                     r"enlargement of the (?:heart|cardiac silhouette)"],
    "Consolidation": [r"consolidat\w*"],
    "Edema": [r"edema", r"(?:vascular|venous) (?:congestion|engorgement)", r"pulmonary congestion",
              r"congestive heart failure", r"\bchf\b", r"kerley"],
    "Enlarged Cardiomediastinum": [r"widen\w* (?:of the )?(?:superior )?mediastinum", r"mediastinal widening",
                                   r"enlarged (?:cardio)?mediastinum", r"mediastinal enlargement",
                                   r"widened mediastin\w*"],
    "Fracture": [r"fractur\w*"],
    "Lung Lesion": [r"nodul\w*", r"\bmass(?:es)?\b", r"lesions?\b", r"tumou?r", r"neoplasm", r"cavitary"],
    "Lung Opacity": [r"opacit\w*", r"opacifi\w*", r"infiltrat\w*", r"airspace disease", r"air-space disease",
                     r"haziness", r"hazy", r"densit(?:y|ies)"],
    "Pleural Effusion": [r"effusions?", r"pleural fluid", r"hydrothorax", r"blunting of the (?:\w+ )?costophrenic"],
    "Pleural Other": [r"pleural thickening", r"fibrothorax", r"pleural (?:scar\w*|plaques?)", r"pleural calcification"],
    "Pneumonia": [r"pneumonias?", r"infectious process", r"\binfection\b"],
    "Pneumothorax": [r"pneumothora\w*", r"hydropneumothorax"],
    "Support Devices": [r"\btubes?\b", r"\blines?\b(?! of)", r"catheters?", r"pacemakers?", r"pacer", r"\bwires?\b",
                        r"\bclips?\b", r"stents?", r"\bports?\b", r"\bdrains?\b", r"\bicd\b", r"\bdevices?\b",
                        r"prosthe\w*", r"valve replacement", r"\bpicc\b"],
}
# Mentions of a structure that say "normal" (negative) or "enlarged" (positive) by their predicate.
NORMAL_HEART = re.compile(
    r"(?:heart|cardiac) (?:size|silhouette)[^.;,]*?\b(?:is |are |remains? |appears? |)(?:normal|within normal|"
    r"unremarkable|not enlarged|stable and normal)|normal (?:heart|cardiac) (?:size|silhouette)|"
    r"cardiomediastinal silhouette[^.;,]*?\b(?:normal|within normal|unremarkable)|"
    r"cardiomediastinal and hilar contours are (?:normal|unremarkable|within normal)"
)
ENLARGED_HEART = re.compile(
    r"\b(?:heart(?: size)?|cardiac (?:size|silhouette)|cardiomediastinal silhouette)[^.;,]*?\b"
    r"(?:\w+ )?(?:enlarged|increased|large|prominent)\b"
)
CLEAR_LUNGS = re.compile(r"lungs? (?:are |is |remain )?(?:clear|well expanded and clear)")

NEGATION = re.compile(
    r"\b(?:no|not|without|negative for|free of|absence of|absent|resolved|resolution of|clear of|rather than|"
    r"removed|removal of|interval removal|no evidence of|no signs? of|nor)\b"
)
POST_NEGATION = re.compile(
    r"^[^.;]*?\b(?:is|are|has|have|was|were)?\s*(?:not (?:seen|identified|present|appreciated|visualized|evident)|"
    r"resolved|absent|removed|no longer (?:seen|present|visualized)|unlikely|"
    r"(?:appears? |is |are |remains? )?within (?:the )?(?:limits of normal|normal limits)|(?:is|are|appears?) normal)\b"
)
UNCERTAINTY = re.compile(
    r"\b(?:possible|possibly|probable|probably|likely|may|might|could|questionable|question of|suspicious for|"
    r"suspected|suspect|concern(?:ing)? for|cannot be (?:excluded|ruled out)|can ?not (?:exclude|rule out)|"
    r"can't (?:exclude|be excluded)|not (?:be )?excluded|differential|versus|vs\.?|suggest\w*|borderline|"
    r"equivocal|indeterminate|presumed|presumably|atypical|question|or)\b"
)
POST_UNCERTAINTY = re.compile(r"^[^.;]*?\b(?:cannot be (?:excluded|ruled out)|is not excluded|is possible|"
                              r"(?:is|are) (?:not )?(?:excluded|suspected)|could be|difficult to (?:\w+ )?exclude|"
                              r"not (?:entirely )?excluded)\b")
# Change words between a negation and a mention keep the mention positive: "no change in the effusion".
CHANGE = re.compile(r"\b(?:change|changed|increase|increased|decrease|decreased|worsening|worsened|improvement|"
                    r"improved|enlargement|difference|progression)\b")
CLAUSE_BREAK = re.compile(r"[;:]|\bbut\b|\bhowever\b|\balthough\b|\bthough\b|\bwhich\b|\bwith\b")

_MENTION_RES = {name: re.compile("|".join(f"(?:{p})" for p in patterns)) for name, patterns in MENTIONS.items()}


def label_report(text: str) -> dict[str, float | None]:
    """CheXpert labels (1.0 / 0.0 / -1.0 / None) of a report or of one of its sections."""
    found: dict[str, set[float]] = {name: set() for name in CHEXPERT}
    for sentence in _sentences(text.lower()):
        for clause in _clauses(sentence):
            for name, pattern in _MENTION_RES.items():
                for match in pattern.finditer(clause):
                    found[name].add(_classify(clause, match.start(), match.end()))
        if NORMAL_HEART.search(sentence):
            found["Cardiomegaly"].add(0.0)
            if "cardiomediastinal" in sentence:
                found["Enlarged Cardiomediastinum"].add(0.0)
        heart = ENLARGED_HEART.search(sentence)
        if heart and not NEGATION.search(sentence[: heart.start()] + " " + heart.group(0).replace("enlarged", "")):
            found["Cardiomegaly"].add(-1.0 if UNCERTAINTY.search(sentence[: heart.end()]) else 1.0)
        if CLEAR_LUNGS.search(sentence):
            found["Lung Opacity"].add(0.0)
    labels: dict[str, float | None] = {}
    for name in CHEXPERT:
        values = found[name]
        labels[name] = 1.0 if 1.0 in values else -1.0 if -1.0 in values else 0.0 if 0.0 in values else None
    findings = [labels[n] for n in CHEXPERT if n not in ("No Finding", "Support Devices")]
    labels["No Finding"] = 1.0 if all(v in (None, 0.0) for v in findings) else None
    return labels


def positive_findings(labels: dict[str, float | None], uncertain_as_positive: bool = True) -> list[str]:
    """Observations present (excluding No Finding and Support Devices)."""
    accepted = (1.0, -1.0) if uncertain_as_positive else (1.0,)
    return [n for n in CHEXPERT if n not in ("No Finding", "Support Devices") and labels.get(n) in accepted]


def _classify(clause: str, start: int, end: int) -> float:
    before, after = clause[:start], clause[end:]
    negation = list(NEGATION.finditer(before))
    if negation and not CHANGE.search(before[negation[-1].end() :]):
        return 0.0
    if POST_NEGATION.search(after):
        return 0.0
    if UNCERTAINTY.search(before) or POST_UNCERTAINTY.search(after):
        return -1.0
    return 1.0


def _sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\s*\d+\.\s+(?=[a-z])", text) if s.strip()]


def _clauses(sentence: str) -> list[str]:
    parts, start = [], 0
    for boundary in CLAUSE_BREAK.finditer(sentence):
        parts.append(sentence[start : boundary.start()])
        start = boundary.end()
    parts.append(sentence[start:])
    return [p for p in parts if p.strip()]
