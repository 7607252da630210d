"""Radiology report sections, robust to MIMIC-CXR's real formats.

    sections = split_sections(text)        # {"FINDINGS": "...", "IMPRESSION": "...", ...}
    impression_or_findings(text)           # the impression; the findings when there is none

Headings vary in case and wording ("Impression:", "IMPRESSIONS:", "CONCLUSION:", "FINDINGS AND
IMPRESSION:"), sections go missing, lines are wrapped, and a preliminary "WET READ" may precede the
final report. Wrapped lines are joined, de-identification blanks ("___") are kept as they are.
"""

from __future__ import annotations

import re

# Canonical name -> heading variants (matched case-insensitively at a line start, before a colon).
HEADINGS = {
    "WET READ": ["wet read"],
    "EXAMINATION": ["examination", "exam", "procedure", "study"],
    "INDICATION": ["indication", "indications", "history", "clinical history", "clinical indication",
                   "reason for examination", "reason for exam", "clinical information"],
    "TECHNIQUE": ["technique"],
    "COMPARISON": ["comparison", "comparisons", "prior", "priors"],
    "FINDINGS AND IMPRESSION": ["findings and impression", "findings/impression", "impression and findings"],
    "FINDINGS": ["findings", "finding", "chest radiograph", "pa and lateral views of the chest"],
    "IMPRESSION": ["impression", "impressions", "conclusion", "conclusions", "summary", "opinion"],
    "NOTIFICATION": ["notification", "notifications"],
    "RECOMMENDATION": ["recommendation", "recommendations", "recommendation(s)"],
    "ADDENDUM": ["addendum"],
}
_VARIANT_TO_NAME = {variant: name for name, variants in HEADINGS.items() for variant in variants}
_HEADING_RE = re.compile(
    r"^[ \t]*(" + "|".join(sorted((re.escape(v) for v in _VARIANT_TO_NAME), key=len, reverse=True)) + r")[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)
_FINAL_REPORT_RE = re.compile(r"^\s*FINAL REPORT\s*$", re.MULTILINE)
_RULE_RE = re.compile(r"^\s*_{10,}\s*$", re.MULTILINE)


def split_sections(text: str) -> dict[str, str]:
    """Sections by canonical name, each as one paragraph (wrapped lines joined)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _RULE_RE.sub("\n", _FINAL_REPORT_RE.sub("\n", text))
    matches = list(_HEADING_RE.finditer(text))
    sections: dict[str, str] = {}
    if matches and text[: matches[0].start()].strip():
        sections["PREAMBLE"] = _paragraph(text[: matches[0].start()])
    if not matches and text.strip():
        sections["PREAMBLE"] = _paragraph(text)
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        name = _VARIANT_TO_NAME[match.group(1).lower()]
        body = _paragraph(text[match.end() : end])
        if name == "WET READ":
            body = re.sub(r"^(?:_+\s*)+(?:\d{1,2}:\d{2}\s*(?:AM|PM)?)?\s*", "", body, flags=re.IGNORECASE)
        if body:
            sections[name] = f"{sections[name]} {body}" if name in sections else body
    return sections


def impression_or_findings(text: str) -> str:
    """The impression (the paper's choice), else the combined or findings section, else the wet read."""
    sections = split_sections(text)
    for name in ("IMPRESSION", "FINDINGS AND IMPRESSION", "FINDINGS", "WET READ", "PREAMBLE"):
        if sections.get(name):
            return sections[name]
    return ""


def findings_and_impression(text: str) -> str:
    """Everything a labeler should read: findings and impression (or what there is of them)."""
    sections = split_sections(text)
    parts = [sections[n] for n in ("FINDINGS", "FINDINGS AND IMPRESSION", "IMPRESSION") if sections.get(n)]
    return " ".join(parts) if parts else impression_or_findings(text)


def _paragraph(chunk: str) -> str:
    return re.sub(r"\s+", " ", chunk).strip()
