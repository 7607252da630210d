import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import train.prepare as prepare_module
from medjourney_core.phantom.export import export
from train.prepare import Options, prepare

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def phantom_tree(tmp_path_factory, phantom):
    out = tmp_path_factory.mktemp("prep") / "phantom"
    export(out, 20, 3, seed=21, size=96, progress=False, simulator=phantom)
    return out


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def options(root, out, **extra):
    return Options(mimic_root=root, out=out, workers=1, size=96, progress=False, **extra)


def test_end_to_end_on_a_phantom_export(phantom_tree, tmp_path):
    summary = prepare(options(phantom_tree, tmp_path / "out"))
    triples = read_jsonl(tmp_path / "out" / "triples.jsonl")
    singles = read_jsonl(tmp_path / "out" / "singles.jsonl")
    assert summary["candidate_pairs"] == 40 and summary["labels_from"] == "mimic-cxr-2.0.0-chexpert.csv"
    assert len(triples) == summary["pairs_registered_above_threshold"] <= summary["pairs_with_a_finding"]
    assert {t["split"] for t in triples} >= {"train", "test"}
    for triple in triples:
        assert (triple["split"] == "test") == str(triple["subject_id"]).startswith("19")
        assert Path(triple["prior_image"]).is_file() and Path(triple["followup_image"]).is_file()
        assert Image.open(triple["followup_image"]).size == (96, 96)
        assert triple["description"] and triple["impression"] and triple["registration_score"] >= 0.5
        assert triple["gender"] in ("F", "M") and isinstance(triple["age"], int)
    assert all(s["split"] in ("train", "validate") for s in singles)
    assert summary["singles_stage1"] == sum(s["split"] == "train" for s in singles) > 0
    # The drafted descriptions name the ground truth's changes (phantom pairs carry them).
    truth = {(p["prior_study_id"], p["study_id"]): p for p in read_jsonl(phantom_tree / "ground_truth" / "pairs.jsonl")}
    named = 0
    for triple in triples:
        for change in truth[(triple["prior_study_id"], triple["study_id"])]["changes"]:
            named += change["finding"][:6] in triple["description"].lower()
    assert named > 0


def test_without_registration_the_follow_up_is_the_original(phantom_tree, tmp_path):
    summary = prepare(options(phantom_tree, tmp_path / "plain", register=False))
    triples = read_jsonl(tmp_path / "plain" / "triples.jsonl")
    assert summary["pairs_registered_above_threshold"] == "registration off"
    assert all(t["followup_image"].endswith(".jpg") and t["registration_score"] is None for t in triples)


def quirky_copy(source: Path, target: Path) -> dict:
    """MIMIC's real quirks on a phantom tree: other views, two PA images in a study, a report
    without IMPRESSION, no CheXpert CSV, and one 'PA' follow-up that is really another image."""
    shutil.copytree(source, target)
    shutil.rmtree(target / "ground_truth")  # a plain MIMIC-style tree
    (target / "mimic-cxr-2.0.0-chexpert.csv").unlink()
    path = target / "mimic-cxr-2.0.0-metadata.csv"
    rows = list(csv.DictReader(open(path)))
    first = rows[0]
    folder = target / "files" / f"p{first['subject_id'][:2]}" / f"p{first['subject_id']}" / f"s{first['study_id']}"
    extra = []
    for view, dicom in (("LATERAL", "aaaaaaaa-lateral"), ("AP", "bbbbbbbb-ap"), ("PA", "00000000-second-pa")):
        shutil.copy(folder / f"{first['dicom_id']}.jpg", folder / f"{dicom}.jpg")
        extra.append({**first, "dicom_id": dicom, "ViewPosition": view})
    # The second PA image sorts first by dicom_id: it is the one kept, and it is a real copy.
    report = folder.parent / f"s{first['study_id']}.txt"
    text = report.read_text()
    report.write_text(text.split("IMPRESSION:")[0])  # no IMPRESSION section
    # Replace one follow-up image with noise, as a mislabelled view would be.
    by_subject = [r for r in rows if r["subject_id"] == rows[3]["subject_id"]]
    victim = by_subject[1]
    noise = (np.random.default_rng(0).random((96, 96)) * 255).astype(np.uint8)
    victim_path = (target / "files" / f"p{victim['subject_id'][:2]}" / f"p{victim['subject_id']}" /
                   f"s{victim['study_id']}" / f"{victim['dicom_id']}.jpg")
    Image.fromarray(noise).save(victim_path)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows + extra)
    return {"first_study": int(first["study_id"]), "findings_only": text.split("FINDINGS:")[1].split("IMPRESSION:")[0],
            "victim": int(victim["study_id"])}


def test_a_tree_with_mimic_quirks(phantom_tree, tmp_path):
    facts = quirky_copy(phantom_tree, tmp_path / "quirky")
    summary = prepare(options(tmp_path / "quirky", tmp_path / "out"))
    assert summary["images"] == 63 and summary["pa_images"] == 61 and summary["pa_studies"] == 60
    assert summary["studies_with_several_pa_images"] == 1
    assert summary["labels_from"] == "rule labeler"
    singles = {s["study_id"]: s for s in read_jsonl(tmp_path / "out" / "singles.jsonl")}
    reports = {json.loads(l)["key"]: json.loads(l) for l in (tmp_path / "out" / "cache" / "reports.jsonl").read_text().splitlines()}
    assert reports[str(facts["first_study"])]["impression"] == " ".join(facts["findings_only"].split())
    assert singles[facts["first_study"]]["image"].endswith("00000000-second-pa.jpg")
    registration = {json.loads(l)["key"]: json.loads(l) for l in (tmp_path / "out" / "cache" / "registration.jsonl").read_text().splitlines()}
    victim = [r for k, r in registration.items() if k.endswith(f"_s{facts['victim']}")]
    assert victim and victim[0]["score"] < 0.5  # the mislabelled image registers badly...
    triples = read_jsonl(tmp_path / "out" / "triples.jsonl")
    assert all(t["study_id"] != facts["victim"] for t in triples)  # ...and its pair is dropped


def test_an_interrupted_run_resumes_without_redoing_work(phantom_tree, tmp_path, monkeypatch):
    real = prepare_module._register_job
    calls = []

    def crashing(job):
        if len(calls) == 5:
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-way
        calls.append(job[0])
        return real(job)

    monkeypatch.setattr(prepare_module, "_register_job", crashing)
    with pytest.raises(KeyboardInterrupt):
        prepare(options(phantom_tree, tmp_path / "out"))
    done_first = list(calls)
    calls.clear()
    monkeypatch.setattr(prepare_module, "_register_job", lambda job: (calls.append(job[0]), real(job))[1])
    summary = prepare(options(phantom_tree, tmp_path / "out"))
    assert len(done_first) == 5
    assert not set(done_first) & set(calls)  # nothing registered twice
    assert len(done_first) + len(calls) == summary["pairs_with_a_finding"]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "train.prepare", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_refuses_public_openai_for_credentialed_data(phantom_tree, tmp_path):
    tree = tmp_path / "mimic-like"
    shutil.copytree(phantom_tree, tree, ignore=shutil.ignore_patterns("ground_truth"))
    result = run_cli("--mimic-root", str(tree), "--out", str(tmp_path / "o"), "--drafter", "openai", "--quiet",
                     "--no-registration")
    assert result.returncode == 1 and "PhysioNet" in result.stderr and "Traceback" not in result.stderr


def test_cli_bad_root_is_one_line(tmp_path):
    result = run_cli("--mimic-root", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path} is not a MIMIC-CXR-JPG tree: mimic-cxr-2.0.0-metadata.csv is missing."]
