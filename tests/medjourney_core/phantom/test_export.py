import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medjourney_core.phantom.__main__ import main
from medjourney_core.phantom.export import export
from medjourney_core.phantom.text import CHEXPERT

ROOT = Path(__file__).resolve().parents[3]
PATIENTS, STUDIES = 12, 3


@pytest.fixture(scope="module")
def tree(tmp_path_factory, phantom):
    out = tmp_path_factory.mktemp("phantom") / "export"
    export(out, PATIENTS, STUDIES, seed=5, size=96, progress=False, simulator=phantom)
    return out


def read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_mimic_cxr_jpg_layout(tree):
    metadata = read_csv(tree / "mimic-cxr-2.0.0-metadata.csv")
    assert len(metadata) == PATIENTS * STUDIES
    assert {"dicom_id", "subject_id", "study_id", "ViewPosition", "StudyDate", "StudyTime", "Rows", "Columns"} <= set(metadata[0])
    for row in metadata:
        subject, study = row["subject_id"], row["study_id"]
        image = tree / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{row['dicom_id']}.jpg"
        assert image.is_file() and Image.open(image).size == (96, 96)
        assert row["ViewPosition"] == "PA" and row["Rows"] == row["Columns"] == "96"
        report = (tree / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}.txt").read_text()
        assert "FINDINGS:" in report and "IMPRESSION:" in report
    folders = {p.name for p in (tree / "files").iterdir()}
    assert folders == {f"p{n}" for n in range(10, 20)}  # subjects spread over p10..p19 (p19: the test split)
    assert len({row["study_id"] for row in metadata}) == len(metadata)


def test_dates_order_each_journey(tree):
    metadata = read_csv(tree / "mimic-cxr-2.0.0-metadata.csv")
    studies = [json.loads(line) for line in (tree / "ground_truth" / "studies.jsonl").read_text().splitlines()]
    by_subject = {}
    for row in metadata:
        by_subject.setdefault(row["subject_id"], []).append((row["StudyDate"], row["StudyTime"], row["study_id"]))
    for subject, rows in by_subject.items():
        exported_order = [str(s["study_id"]) for s in studies if str(s["subject_id"]) == subject]
        assert [r[2] for r in sorted(rows)] == exported_order


def test_chexpert_and_patients_csv(tree):
    labels = read_csv(tree / "mimic-cxr-2.0.0-chexpert.csv")
    assert list(labels[0]) == ["subject_id", "study_id", *CHEXPERT]
    values = {row[name] for row in labels for name in CHEXPERT}
    assert values <= {"1.0", "0.0", "-1.0", ""} and {"1.0", "0.0"} <= values
    studies = {s["study_id"]: s for s in map(json.loads, (tree / "ground_truth" / "studies.jsonl").read_text().splitlines())}
    for row in labels:
        state = studies[int(row["study_id"])]["state"]
        has_effusion = state["effusion_left"] or state["effusion_right"]
        assert (row["Pleural Effusion"] in ("1.0", "-1.0")) == bool(has_effusion)
        assert (row["No Finding"] == "1.0") == (not any(v for k, v in state.items() if not k.endswith("_lobe")))
    patients = read_csv(tree / "patients.csv")
    assert len(patients) == PATIENTS
    assert {p["gender"] for p in patients} <= {"F", "M"}
    assert all(18 <= int(p["anchor_age"]) <= 95 for p in patients)


def test_ground_truth_pairs(tree):
    pairs = [json.loads(line) for line in (tree / "ground_truth" / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == PATIENTS * (STUDIES - 1)
    changed = 0
    for pair in pairs:
        counterfactual = np.asarray(Image.open(tree / pair["counterfactual"]))
        change = np.asarray(Image.open(tree / pair["change_mask"])) > 0
        assert counterfactual.shape == (96, 96) and pair["description"]
        if pair["changes"]:
            changed += 1
            assert change.any()
            for item in pair["changes"]:
                word = {"effusion": "effusion", "pneumothorax": "pneumothorax", "cardiomegaly": "cardiomegaly",
                        "edema": "edema", "consolidation": "consolidation", "atelectasis": "atelectasis"}[item["finding"]]
                assert word in pair["description"].lower()
                if item["before"] == 0:
                    assert "new" in pair["description"].lower()
        else:
            assert not change.any()  # nothing changed: the true counterfactual is the prior
    assert changed >= len(pairs) // 3


def test_masks_are_stored_per_study(tree):
    studies = [json.loads(line) for line in (tree / "ground_truth" / "studies.jsonl").read_text().splitlines()]
    bits = np.asarray(Image.open(tree / studies[0]["mask"]))
    assert bits.shape == (96, 96) and (bits & 1).any() and (bits & 2).any()


def test_export_is_deterministic_for_a_seed(tmp_path, phantom, tree):
    again = tmp_path / "again"
    export(again, PATIENTS, STUDIES, seed=5, size=96, progress=False, simulator=phantom)
    assert digest(again) == digest(tree)
    other = tmp_path / "other"
    export(other, 2, STUDIES, seed=6, size=96, progress=False, simulator=phantom)
    assert set(digest(other).values()).isdisjoint(
        {v for k, v in digest(tree).items() if k.endswith(".jpg")})


def test_command_line(tmp_path):
    out = tmp_path / "cli"
    assert main(["--out", str(out), "--patients", "2", "--studies", "2", "--seed", "0", "--size", "64", "--quiet"]) == 0
    assert len(read_csv(out / "mimic-cxr-2.0.0-metadata.csv")) == 4
    assert main(["--out", str(out), "--patients", "2", "--studies", "2", "--seed", "0"]) == 2  # not empty


@pytest.mark.parametrize("args, message", [
    (["--patients", "0", "--studies", "2", "--seed", "0"], "must be between 1"),
    (["--patients", "two", "--studies", "2", "--seed", "0"], "expected a whole number"),
    (["--patients", "2", "--studies", "2"], "required: --seed"),
    (["--patients", "2", "--studies", "2", "--seed", "0", "--size", "32"], "must be between 64"),
])
def test_bad_arguments_are_one_line(tmp_path, args, message):
    result = subprocess.run([sys.executable, "-m", "medjourney_core.phantom", "--out", str(tmp_path / "x"), *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
