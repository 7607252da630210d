"""Radiology-style text for phantom studies: reports (FINDINGS, IMPRESSION), CheXpert labels, and
progression descriptions between consecutive studies (in the spirit of the paper's Fig. 2)."""

from __future__ import annotations

import numpy as np

from .states import PathologyState

CHEXPERT = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
            "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
            "Pneumothorax", "Support Devices"]

SIZE = {1: ["small", "small", "trace", "mild"], 2: ["moderate", "moderate", "moderate-sized"], 3: ["large", "large"]}
DEGREE = {1: ["mild", "mild", "slight"], 2: ["moderate"], 3: ["severe", "marked"]}
CHANGE = {"new": ["new", "new"], "increased": ["increased", "enlarging", "worsened"],
          "decreased": ["decreased", "improved", "smaller"], "stable": ["stable", "unchanged"]}


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def phrase(kind: str, where, level: int, rng: np.random.Generator) -> str:
    """A noun phrase for one finding, e.g. 'moderate right pleural effusion'."""
    if kind == "effusion":
        return f"{_pick(rng, SIZE[level])} {where} {_pick(rng, ['pleural effusion', 'pleural effusion', 'effusion'])}"
    if kind == "pneumothorax":
        apical = " apical" if level == 1 and rng.random() < 0.5 else ""
        return f"{_pick(rng, SIZE[level])} {where}{apical} pneumothorax"
    if kind == "cardiomegaly":
        return f"{_pick(rng, DEGREE[level])} cardiomegaly"
    if kind == "edema":
        return f"{_pick(rng, DEGREE[level])} {_pick(rng, ['pulmonary edema', 'interstitial edema', 'pulmonary edema'])}"
    if kind == "consolidation":
        word = {1: _pick(rng, ["patchy", "focal"]), 2: "", 3: _pick(rng, ["dense", "extensive"])}[level]
        return f"{word} consolidation in the {where}".strip().replace("  ", " ")
    if kind == "atelectasis":
        word = {1: _pick(rng, ["mild", "minimal", "plate-like"]), 2: "moderate", 3: "severe"}[level]
        return f"{word} atelectasis of the {where}"
    raise ValueError(kind)


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _join_sides(state: PathologyState, kind: str, rng) -> list[tuple[str, str | None, int]]:
    """Merge equal left and right findings into one bilateral mention."""
    left, right = getattr(state, f"{kind}_left"), getattr(state, f"{kind}_right")
    if kind == "effusion" and left and left == right:
        return [(kind, "bilateral", left)]
    return [(kind, side, level) for side, level in (("right", right), ("left", left)) if level]


def report(state: PathologyState, previous: PathologyState | None, rng: np.random.Generator) -> tuple[str, dict]:
    """(report text, CheXpert labels {observation: 1.0 | 0.0 | -1.0 | None}) for one study."""
    labels: dict[str, float | None] = {name: None for name in CHEXPERT}
    findings, impression = [], []
    mentions = _join_sides(state, "effusion", rng) + _join_sides(state, "pneumothorax", rng)
    for kind in ("cardiomegaly", "edema", "consolidation", "atelectasis"):
        level = getattr(state, kind)
        if level:
            mentions.append((kind, getattr(state, f"{kind}_lobe", None), level))

    for kind, where, level in mentions:
        noun = phrase(kind, where.replace("bilateral", "bilateral") if where else where, level, rng)
        if kind == "effusion" and where == "bilateral":
            noun = noun.replace("effusion", "effusions") if noun.endswith("effusion") else noun
        uncertain = level == 1 and kind != "cardiomegaly" and rng.random() < 0.15
        change = _change_word(kind, where, level, previous)
        if uncertain:
            findings.append(_sentence(f"{_pick(rng, ['possible', 'questionable', 'there may be a'])} {noun}"))
        elif change and rng.random() < 0.7:
            findings.append(_sentence(f"{_pick(rng, CHANGE[change])} {noun} {_pick(rng, ['compared to the prior study', 'since the prior radiograph', ''])}"))
        else:
            findings.append(_sentence(_pick(rng, [f"there is a {noun}", f"{noun} is present", f"{noun} is seen", noun])))
        impression.append(_sentence(f"{change + ' ' if change and change != 'stable' else ''}{noun}"))
        label = _chexpert_name(kind)
        labels[label] = -1.0 if uncertain else 1.0
        if kind in ("edema", "consolidation", "atelectasis"):
            labels["Lung Opacity"] = 1.0
        if kind == "cardiomegaly" and level >= 2:
            labels["Enlarged Cardiomediastinum"] = 1.0

    negatives = []
    if not (state.effusion_left or state.effusion_right):
        negatives.append(("Pleural Effusion", _pick(rng, ["No pleural effusion.", "No pleural effusions.", "There is no effusion."])))
    if not (state.pneumothorax_left or state.pneumothorax_right):
        negatives.append(("Pneumothorax", _pick(rng, ["No pneumothorax.", "There is no pneumothorax.", "No pneumothorax is seen."])))
    if not state.cardiomegaly:
        negatives.append(("Cardiomegaly", _pick(rng, ["Heart size is normal.", "The cardiac silhouette is normal in size.", "Normal heart size."])))
    if not (state.edema or state.consolidation):
        negatives.append(("Consolidation", _pick(rng, ["No focal consolidation.", "Lungs are clear without consolidation.", "No consolidation."])))
    for label, sentence in negatives:
        if rng.random() < 0.8:
            findings.append(sentence)
            if labels[label] is None:
                labels[label] = 0.0
    if not mentions:
        labels["No Finding"] = 1.0
        impression = [_pick(rng, ["No acute cardiopulmonary process.", "No acute intrathoracic abnormality.",
                                  "Normal chest radiograph."])]

    history = _pick(rng, ["Shortness of breath.", "Evaluate for interval change.", "Cough.", "Follow-up.", "Chest pain."])
    comparison = "Prior chest radiograph." if previous is not None else "None."
    text = (
        "                                 FINAL REPORT\n"
        f" EXAMINATION:  CHEST (PA AND LAT)\n\n INDICATION:  {history}\n\n COMPARISON:  {comparison}\n\n"
        f" FINDINGS:\n \n {_wrap(' '.join(findings))}\n \n IMPRESSION:\n \n {_wrap(' '.join(impression))}\n"
    )
    return text, labels


def progression(previous: PathologyState, current: PathologyState, rng: np.random.Generator) -> str:
    """How `current` differs from `previous`, as one short instruction-style description."""
    before, after = previous.findings(), current.findings()
    parts = []
    for key in sorted(set(before) | set(after), key=str):
        kind, where = key
        old, new = before.get(key, 0), after.get(key, 0)
        if old == new:
            parts.append(f"stable {phrase(kind, where, new, rng)}")
        elif old == 0:
            parts.append(f"new {phrase(kind, where, new, rng)}")
        elif new == 0:
            parts.append(f"resolved {_bare(kind, where)}")
        else:
            change = "increased" if new > old else "decreased"
            parts.append(f"{_pick(rng, CHANGE[change])} {_bare(kind, where)}, now {phrase(kind, where, new, rng).split()[0]}")
    if not parts:
        return _pick(rng, ["No significant interval change.", "No change; lungs remain clear.", "Stable appearance, no new findings."])
    changing = [p for p in parts if not p.startswith("stable")]
    ordered = changing + [p for p in parts if p.startswith("stable")]
    return " ".join(_sentence(p) for p in ordered)


def _bare(kind: str, where) -> str:
    return {"effusion": f"{where} pleural effusion", "pneumothorax": f"{where} pneumothorax",
            "cardiomegaly": "cardiomegaly", "edema": "pulmonary edema", "consolidation": f"{where} consolidation",
            "atelectasis": f"{where} atelectasis"}[kind]


def _change_word(kind, where, level, previous: PathologyState | None) -> str | None:
    if previous is None:
        return None
    if where == "bilateral":
        old = max(previous.effusion_left, previous.effusion_right)
    else:
        old = previous.findings().get((kind, where), 0)
    if old == 0:
        return "new"
    return "increased" if level > old else "decreased" if level < old else "stable"


def _chexpert_name(kind: str) -> str:
    return {"effusion": "Pleural Effusion", "pneumothorax": "Pneumothorax", "cardiomegaly": "Cardiomegaly",
            "edema": "Edema", "consolidation": "Consolidation", "atelectasis": "Atelectasis"}[kind]


def _wrap(text: str, width: int = 78) -> str:
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n ".join(lines)
