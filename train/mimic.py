"""Reading a MIMIC-CXR-JPG tree (the real one, or a phantom export in the same layout).

    root/mimic-cxr-2.0.0-metadata.csv            required: dicom_id, subject_id, study_id, ViewPosition, StudyDate, StudyTime
    root/mimic-cxr-2.0.0-chexpert.csv            optional: CheXpert labels per study
    root/patients.csv                             optional: subject_id, gender, anchor_age (MIMIC-IV hosp/patients.csv)
    root/files/pNN/pSUBJECT/sSTUDY/DICOM_ID.jpg   images
    reports/files/pNN/pSUBJECT/sSTUDY.txt         reports (MIMIC-CXR's report archive; by default under root)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from medjourney_core.errors import MedJourneyError
from medjourney_core.phantom.text import CHEXPERT

METADATA = "mimic-cxr-2.0.0-metadata.csv"
CHEXPERT_CSV = "mimic-cxr-2.0.0-chexpert.csv"
PATIENTS = "patients.csv"


@dataclass
class Tree:
    root: Path
    reports_root: Path
    studies: pd.DataFrame  # one PA image per study: subject_id, study_id, dicom_id, image, report, when, split, ...
    counts: dict


def subject_folder(subject_id: int) -> str:
    return f"p{str(subject_id)[:2]}/p{subject_id}"


def split_of(subject_id: int, validation_percent: float) -> str:
    """p19 is the test set (the paper's split); p10-p18 are train, with a stable validation share by subject."""
    if str(subject_id).startswith("19"):
        return "test"
    bucket = int(hashlib.sha1(str(subject_id).encode()).hexdigest(), 16) % 10_000
    return "validate" if bucket < validation_percent * 100 else "train"


def read_tree(root: str | Path, reports_root: str | Path | None = None, validation_percent: float = 10.0) -> Tree:
    root = Path(root)
    reports_root = Path(reports_root) if reports_root else root
    if not (root / METADATA).is_file():
        raise MedJourneyError(f"{root} is not a MIMIC-CXR-JPG tree: {METADATA} is missing.")
    metadata = pd.read_csv(root / METADATA, dtype={"dicom_id": str, "StudyTime": str, "StudyDate": str})
    missing = {"dicom_id", "subject_id", "study_id", "ViewPosition", "StudyDate", "StudyTime"} - set(metadata.columns)
    if missing:
        raise MedJourneyError(f"{METADATA} lacks columns: {', '.join(sorted(missing))}.")
    counts = {"images": len(metadata), "studies": metadata["study_id"].nunique()}

    pa = metadata[metadata["ViewPosition"].astype(str).str.upper() == "PA"].copy()
    counts["pa_images"] = len(pa)
    # A study with several PA images keeps one, chosen deterministically (the first by dicom_id).
    pa = pa.sort_values(["study_id", "dicom_id"]).drop_duplicates("study_id", keep="first")
    counts["pa_studies"] = len(pa)
    counts["studies_with_several_pa_images"] = int(metadata[metadata["ViewPosition"].astype(str).str.upper() == "PA"]
                                                   .groupby("study_id").size().gt(1).sum())

    pa["image"] = [
        f"files/{subject_folder(s)}/s{st}/{d}.jpg" for s, st, d in zip(pa["subject_id"], pa["study_id"], pa["dicom_id"])
    ]
    pa["report"] = [f"files/{subject_folder(s)}/s{st}.txt" for s, st in zip(pa["subject_id"], pa["study_id"])]
    present = [(root / i).is_file() and (reports_root / r).is_file() for i, r in zip(pa["image"], pa["report"])]
    counts["pa_studies_missing_image_or_report"] = int(len(pa) - sum(present))
    pa = pa[present].copy()
    time = pa["StudyTime"].fillna("0").astype(str).str.split(".").str[0].str.zfill(6)
    pa["when"] = pa["StudyDate"].astype(str) + time
    pa["split"] = [split_of(s, validation_percent) for s in pa["subject_id"]]

    if (root / CHEXPERT_CSV).is_file():
        labels = pd.read_csv(root / CHEXPERT_CSV)
        keep = ["study_id"] + [c for c in CHEXPERT if c in labels.columns]
        pa = pa.merge(labels[keep].drop_duplicates("study_id"), on="study_id", how="left")
        counts["labels_from"] = CHEXPERT_CSV
    else:
        counts["labels_from"] = "rule labeler"
    if (root / PATIENTS).is_file():
        patients = pd.read_csv(root / PATIENTS)
        pa = pa.merge(patients[[c for c in ("subject_id", "gender", "anchor_age") if c in patients.columns]],
                      on="subject_id", how="left")
    for column in ("gender", "anchor_age"):
        if column not in pa.columns:
            pa[column] = None
    pa = pa.sort_values(["subject_id", "when", "study_id"]).reset_index(drop=True)
    return Tree(root, reports_root, pa, counts)


def consecutive_pairs(studies: pd.DataFrame) -> list[tuple[int, int]]:
    """Row indices (prior, follow-up) of consecutive PA studies of each subject, in time order."""
    pairs = []
    for _, group in studies.groupby("subject_id", sort=True):
        rows = list(group.index)
        pairs.extend(zip(rows[:-1], rows[1:]))
    return pairs
