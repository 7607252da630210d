"""Patients, pathology states and journeys: what the phantom renders and the reports describe."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from .anatomy import LOBES
from .render import Acquisition, Appearance

SIDES = ("left", "right")
SEVERITY_WORDS = {1: "slight", 2: "moderate", 3: "large"}

# Prevalence at a first study, and the chance of a new finding at a later one.
PREVALENCE = {"effusion": 0.22, "pneumothorax": 0.06, "cardiomegaly": 0.30, "edema": 0.20,
              "consolidation": 0.18, "atelectasis": 0.20}
NEW_RATE = {"effusion": 0.12, "pneumothorax": 0.04, "cardiomegaly": 0.06, "edema": 0.12,
            "consolidation": 0.10, "atelectasis": 0.12}
SEVERITY_PRIOR = np.array([0.45, 0.35, 0.20])


@dataclass(frozen=True)
class PathologyState:
    """Severity 0-3 (none, slight, moderate, large) of each finding the phantom can show."""

    effusion_left: int = 0
    effusion_right: int = 0
    pneumothorax_left: int = 0
    pneumothorax_right: int = 0
    cardiomegaly: int = 0
    edema: int = 0
    consolidation_lobe: str | None = None
    consolidation: int = 0
    atelectasis_lobe: str | None = None
    atelectasis: int = 0

    def findings(self) -> dict[tuple[str, str | None], int]:
        """{(finding, where): severity} for every present finding; `where` is a side, a lobe or None."""
        found = {}
        for side in SIDES:
            for kind in ("effusion", "pneumothorax"):
                if getattr(self, f"{kind}_{side}"):
                    found[(kind, side)] = getattr(self, f"{kind}_{side}")
        for kind in ("cardiomegaly", "edema"):
            if getattr(self, kind):
                found[(kind, None)] = getattr(self, kind)
        for kind in ("consolidation", "atelectasis"):
            if getattr(self, kind):
                found[(kind, getattr(self, f"{kind}_lobe"))] = getattr(self, kind)
        return found

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Patient:
    index: int
    subject_id: int
    sex: str  # "F" | "M" (the breast-shadow proxy)
    age: int  # years (mapped from the bone-density proxy)
    appearance: Appearance


@dataclass(frozen=True)
class Study:
    study_id: int
    dicom_id: str
    days: int  # days since the patient's first study
    time_of_day: str  # HHMMSS.fff
    state: PathologyState
    acquisition: Acquisition


def sample_patient(rng: np.random.Generator, index: int, subject_id: int) -> Patient:
    sex = "F" if rng.random() < 0.5 else "M"
    age = int(np.clip(round(rng.normal(62, 16)), 18, 95))
    appearance = Appearance(
        body_scale=float(rng.uniform(0.95, 1.05)),
        breast_mm=float(rng.uniform(35, 60) if sex == "F" else rng.uniform(0, 6)),
        bone_density=float(np.clip(0.7 + (95 - age) / 77 * 0.5 + rng.normal(0, 0.02), 0.65, 1.25)),
        habitus=float(rng.uniform(0.9, 1.12)),
        heart_scale=float(np.clip(rng.normal(1.0, 0.03), 0.93, 1.07)),
    )
    return Patient(index, subject_id, sex, age, appearance)


def _severity(rng: np.random.Generator) -> int:
    return int(rng.choice([1, 2, 3], p=SEVERITY_PRIOR))


def _evolve(rng: np.random.Generator, level: int, kind: str, first: bool) -> int:
    if level == 0:
        rate = PREVALENCE[kind] if first else NEW_RATE[kind]
        return _severity(rng) if rng.random() < rate else 0
    if kind == "cardiomegaly":  # chronic: mostly stable
        return int(np.clip(level + rng.choice([0, 1, -1], p=[0.8, 0.1, 0.1]), 1, 3))
    move = rng.choice(["stable", "increase", "decrease", "resolve"], p=[0.45, 0.2, 0.2, 0.15])
    if move == "increase":
        return min(level + 1, 3) if level < 3 else level
    if move == "decrease":
        return max(level - 1, 0)
    if move == "resolve":
        return 0
    return level


def next_state(rng: np.random.Generator, previous: PathologyState | None) -> PathologyState:
    first = previous is None
    previous = previous or PathologyState()
    values = {}
    for side in SIDES:
        for kind in ("effusion", "pneumothorax"):
            values[f"{kind}_{side}"] = _evolve(rng, getattr(previous, f"{kind}_{side}"), kind, first)
    for kind in ("cardiomegaly", "edema"):
        values[kind] = _evolve(rng, getattr(previous, kind), kind, first)
    taken = set()
    for kind in ("consolidation", "atelectasis"):
        level = _evolve(rng, getattr(previous, kind), kind, first)
        lobe = getattr(previous, f"{kind}_lobe") if getattr(previous, kind) else None
        if level and lobe is None:
            lobe = str(rng.choice([l for l in LOBES if l not in taken]))
        if lobe in taken:  # one airspace process per lobe
            level, lobe = 0, None
        values[kind], values[f"{kind}_lobe"] = level, (lobe if level else None)
        if lobe:
            taken.add(lobe)
    for side in SIDES:  # a lobar opacity and a pneumothorax on one side would claim the same lung
        if any(values[f"{kind}_lobe"] and values[f"{kind}_lobe"].startswith(side) for kind in ("consolidation", "atelectasis")):
            values[f"pneumothorax_{side}"] = 0
    return PathologyState(**values)


def sample_journey(rng: np.random.Generator, studies: int, id_source) -> list[Study]:
    journey, state, days = [], None, 0
    for position in range(studies):
        state = next_state(rng, state)
        if position:
            days += int(max(1, round(rng.exponential(60))))
        seconds = int(rng.integers(6 * 3600, 23 * 3600))
        time_of_day = f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}.{int(rng.integers(0, 1000)):03d}"
        journey.append(Study(id_source.study_id(), id_source.dicom_id(), days, time_of_day, state,
                             Acquisition.sample(rng)))
    return journey


def without_finding(state: PathologyState, kind: str, where) -> PathologyState:
    if kind in ("effusion", "pneumothorax"):
        return replace(state, **{f"{kind}_{where}": 0})
    if kind in ("consolidation", "atelectasis"):
        return replace(state, **{kind: 0, f"{kind}_lobe": None})
    return replace(state, **{kind: 0})
