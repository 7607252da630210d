"""Writing phantom journeys in the MIMIC-CXR-JPG layout, with ground truth beside them.

    OUT/files/pNN/pSUBJECT/sSTUDY/DICOMID.jpg      the film
    OUT/files/pNN/pSUBJECT/sSTUDY.txt              its report
    OUT/mimic-cxr-2.0.0-metadata.csv               ViewPosition, StudyDate, StudyTime, Rows, Columns, ...
    OUT/mimic-cxr-2.0.0-chexpert.csv               1 / 0 / -1 / blank for the 14 observations
    OUT/patients.csv                               subject_id, gender, anchor_age, ...
    OUT/ground_truth/studies.jsonl                 each study's state, appearance, acquisition
    OUT/ground_truth/masks/DICOMID.png             16-bit structure bits (see README.md there)
    OUT/ground_truth/pairs.jsonl                   consecutive pairs: description, counterfactual, change mask
    OUT/ground_truth/counterfactuals/sPRIOR_sNEXT.png   the follow-up state in the prior's acquisition
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .render import PATHOLOGY_BITS, STRUCTURES
from .simulator import PhantomSimulator
from .states import Patient, Study
from .text import CHEXPERT, progression, report

METADATA_COLUMNS = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
                    "Rows", "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
                    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning"]
CHANGE_THRESHOLD = 2.0 / 255.0


def export(out: Path, patients: int, studies: int, seed: int, size: int = 256, progress: bool = True,
           simulator: PhantomSimulator | None = None) -> dict:
    out = Path(out)
    simulator = simulator or PhantomSimulator()
    (out / "files").mkdir(parents=True, exist_ok=True)
    truth = out / "ground_truth"
    (truth / "masks").mkdir(parents=True, exist_ok=True)
    (truth / "counterfactuals").mkdir(parents=True, exist_ok=True)
    metadata, chexpert, people, study_rows, pair_rows = [], [], [], [], []
    first_day = dt.date(2150, 1, 1)

    for index in tqdm(range(patients), desc="phantom patients", disable=not progress, unit="patient"):
        patient, journey = simulator.sample(seed, index, studies)
        rng = np.random.default_rng([seed, index, 1])  # text draws, separate from the anatomy draws
        start = first_day + dt.timedelta(days=int(rng.integers(0, 3650)))
        people.append({"subject_id": patient.subject_id, "gender": patient.sex, "anchor_age": patient.age,
                       "anchor_year": start.year, "anchor_year_group": "2014 - 2016", "dod": ""})
        previous: Study | None = None
        film_prior = None
        for study in journey:
            film, bits = simulator.render(patient, study, size)
            folder = out / "files" / f"p{str(patient.subject_id)[:2]}" / f"p{patient.subject_id}"
            image_path = folder / f"s{study.study_id}" / f"{study.dicom_id}.jpg"
            image_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_to_uint8(film)).save(image_path, quality=95)
            text, labels = report(study.state, previous.state if previous else None, rng)
            (folder / f"s{study.study_id}.txt").write_text(text)
            Image.fromarray(bits.astype(np.uint16)).save(truth / "masks" / f"{study.dicom_id}.png")
            date = start + dt.timedelta(days=study.days)
            metadata.append(_metadata_row(patient, study, date, size))
            chexpert.append({"subject_id": patient.subject_id, "study_id": study.study_id,
                             **{name: "" if labels[name] is None else labels[name] for name in CHEXPERT}})
            study_rows.append({
                "subject_id": patient.subject_id, "study_id": study.study_id, "dicom_id": study.dicom_id,
                "image": str(image_path.relative_to(out)), "mask": f"ground_truth/masks/{study.dicom_id}.png",
                "state": study.state.to_dict(), "appearance": asdict(patient.appearance),
                "acquisition": asdict(study.acquisition), "sex": patient.sex, "age": patient.age,
            })
            if previous is not None:
                pair_rows.append(_write_pair(simulator, patient, previous, study, film_prior, size, truth, rng))
            previous, film_prior = study, film

    _write_csv(out / "mimic-cxr-2.0.0-metadata.csv", METADATA_COLUMNS, metadata)
    _write_csv(out / "mimic-cxr-2.0.0-chexpert.csv", ["subject_id", "study_id", *CHEXPERT], chexpert)
    _write_csv(out / "patients.csv", ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"], people)
    _write_jsonl(truth / "studies.jsonl", study_rows)
    _write_jsonl(truth / "pairs.jsonl", pair_rows)
    (truth / "README.md").write_text(_TRUTH_README)
    return {"patients": patients, "studies": len(study_rows), "pairs": len(pair_rows)}


def _write_pair(simulator, patient: Patient, prior: Study, follow: Study, film_prior, size, truth: Path, rng) -> dict:
    counterfactual, _ = simulator.render(patient, follow, size, acquisition=prior.acquisition, with_bits=False)
    name = f"s{prior.study_id}_s{follow.study_id}"
    Image.fromarray(_to_uint8(counterfactual)).save(truth / "counterfactuals" / f"{name}.png")
    changed = np.abs(counterfactual - film_prior) > CHANGE_THRESHOLD
    Image.fromarray((changed * 255).astype(np.uint8)).save(truth / "counterfactuals" / f"{name}_change.png")
    before, after = prior.state.findings(), follow.state.findings()
    changes = [{"finding": kind, "where": where, "before": before.get((kind, where), 0), "after": after.get((kind, where), 0)}
               for kind, where in sorted(set(before) | set(after), key=str)
               if before.get((kind, where), 0) != after.get((kind, where), 0)]
    return {"subject_id": patient.subject_id, "prior_study_id": prior.study_id, "study_id": follow.study_id,
            "description": progression(prior.state, follow.state, rng),
            "counterfactual": f"ground_truth/counterfactuals/{name}.png",
            "change_mask": f"ground_truth/counterfactuals/{name}_change.png", "changes": changes}


def _metadata_row(patient: Patient, study: Study, date: dt.date, size: int) -> dict:
    return {"dicom_id": study.dicom_id, "subject_id": patient.subject_id, "study_id": study.study_id,
            "PerformedProcedureStepDescription": "CHEST (PA AND LAT)", "ViewPosition": "PA", "Rows": size,
            "Columns": size, "StudyDate": date.strftime("%Y%m%d"), "StudyTime": study.time_of_day,
            "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)", "ViewCodeSequence_CodeMeaning": "postero-anterior",
            "PatientOrientationCodeSequence_CodeMeaning": "Erect"}


def _to_uint8(film: np.ndarray) -> np.ndarray:
    return np.round(np.clip(film, 0, 1) * 255).astype(np.uint8)


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


_TRUTH_README = f"""# Phantom ground truth

Each study's film was rendered from a known pathology state (`studies.jsonl`). Masks are 16-bit PNGs
whose bits mark structures in the film's own acquisition:
{chr(10).join(f"- bit {i}: {name}" for i, name in enumerate(STRUCTURES))}
{chr(10).join(f"- bit {bit}: {name} region" for name, bit in PATHOLOGY_BITS.items())}

For each consecutive pair (`pairs.jsonl`), `counterfactuals/sPRIOR_sNEXT.png` is the follow-up's state
rendered in the prior's acquisition (position, scale, exposure): the image a perfect counterfactual
generator would produce from the prior and the description. `..._change.png` marks where it differs
from the prior film by more than {CHANGE_THRESHOLD * 255:.0f}/255.
"""
