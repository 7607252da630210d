import csv

import pytest

from evaluate import systems as systems_module
from evaluate.run import main
from evaluate.train_evaluators import train
from medjourney_core.phantom.export import export
from medjourney_core.tiny import make_tiny_pipeline
from train.prepare import Options, prepare


@pytest.fixture(scope="module")
def setup(tmp_path_factory, phantom):
    root = tmp_path_factory.mktemp("evaluate")
    export(root / "phantom", 40, 3, seed=41, size=64, progress=False, simulator=phantom)
    prepare(Options(mimic_root=root / "phantom", out=root / "prep", workers=1, size=64, progress=False))
    pipeline = make_tiny_pipeline(resolution=64, seed=0)
    pipeline.config.trained = True  # random weights, marked trained only so that the plumbing can run
    pipeline.save_pretrained(root / "model")
    train(root / "evaluators", patients=6, studies=2, seed=5, steps=3, progress=False)
    return root


def run(setup, out, *extra):
    return main(["--model", str(setup / "model"), "--data", str(setup / "prep"), "--split", "test",
                 "--evaluators", "phantom", "--out", str(out), "--resolution", "64", "--steps", "2", "--quiet", *extra])


def test_end_to_end_on_a_phantom_export(setup, tmp_path, monkeypatch):
    monkeypatch.setattr("evaluate.evaluators.PHANTOM_DIR", setup / "evaluators")
    out = tmp_path / "eval"
    code = run(setup, out, "--systems", "medjourney,identity,text-only,roentgen", "--text-only-model", str(setup / "model"))
    assert code == 0
    tables = (out / "tables.md").read_text()
    assert "Not run: **roentgen** (no weights given (--roentgen PATH_OR_HUB_ID))" in tables
    assert "80.54, 97.22 and 79.38 give 84.11" in tables  # the CMIG note wherever tables are printed
    for section in ("Table 1", "Table 3", "Table 4", "true counterfactual", "Change achieved by kind"):
        assert section in tables
    for name in ("examples.png", "table1.png", "roc_pleural_effusion.png", "metrics.csv"):
        assert (out / name).is_file()
    rows = {(r["system"], r["metric"]): float(r["value"]) for r in csv.DictReader(open(out / "metrics.csv"))}
    # The identity system changes nothing: no change achieved, nothing spurious, prior == output.
    assert rows[("identity", "truth/spurious_outside")] == 0.0
    assert rows[("identity", "truth/change_achieved")] == 0.0
    assert rows[("medjourney", "truth/spurious_outside")] > 0.0
    assert {s for s, _ in rows} == {"medjourney", "identity", "text-only", "reference"}
    assert len(list((out / "generated" / "medjourney").glob("*.png"))) == len(list((out / "generated" / "identity").glob("*.png")))


def test_generation_resumes_without_regenerating(setup, tmp_path, monkeypatch):
    monkeypatch.setattr("evaluate.evaluators.PHANTOM_DIR", setup / "evaluators")
    out = tmp_path / "eval"
    assert run(setup, out, "--systems", "medjourney", "--limit", "4") == 0
    calls = []
    real = systems_module.MedJourney.generate
    monkeypatch.setattr(systems_module.MedJourney, "generate", lambda self, *a: (calls.append(1), real(self, *a))[1])
    sorted((out / "generated" / "medjourney").glob("*.png"))[0].unlink()
    assert run(setup, out, "--systems", "medjourney", "--limit", "4") == 0
    assert len(calls) == 1  # only the missing image was generated again


def test_no_runnable_system_is_a_clear_error(setup, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("evaluate.evaluators.PHANTOM_DIR", setup / "evaluators")
    assert run(setup, tmp_path / "x", "--systems", "sd,ip2p") == 1
    assert "None of the systems can run" in capsys.readouterr().err


def test_ablations_guidance_and_true_labels(setup, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("evaluate.evaluators.PHANTOM_DIR", setup / "evaluators")
    out = tmp_path / "eval"
    code = run(setup, out, "--systems", "medjourney,identity", "--ablation", f"one-stage={setup / 'model'}",
               "--image-guidance", "3.0", "--limit", "6")
    assert code == 0
    tables = (out / "tables.md").read_text()
    assert "Pathology labels: the follow-up's true state" in tables and "image 3.0" in tables
    assert tables.index("| medjourney |") < tables.index("| medjourney-one-stage |")
    rows = {(r["system"], r["metric"]): float(r["value"]) for r in csv.DictReader(open(out / "metrics.csv"))}
    # Same checkpoint, seed and guidance: the ablation slot reproduces the main system exactly.
    assert rows[("medjourney-one-stage", "truth/psnr")] == rows[("medjourney", "truth/psnr")]
    reports = tmp_path / "reports"
    assert run(setup, reports, "--systems", "identity", "--labels", "reports", "--limit", "6") == 0
    assert "CheXpert labels" in (reports / "tables.md").read_text()

    # Images made with other settings are not silently reused.
    assert run(setup, out, "--systems", "medjourney", "--image-guidance", "1.5", "--limit", "6") == 1
    assert "generated with other settings" in capsys.readouterr().err


def test_a_malformed_ablation_is_refused(setup, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(setup, tmp_path / "x", "--ablation", "no-checkpoint")
    assert exit_info.value.code == 2
    assert "LABEL=CHECKPOINT" in capsys.readouterr().err


def test_true_labels_know_every_finding(setup):
    from evaluate.run import load_pairs, truth_labels

    pairs, truth_dir = load_pairs(setup / "prep", "test", None)
    unknown_in_reports = sum(value is None for pair in pairs for value in pair["labels"].values())
    truth_labels(pairs, truth_dir)
    values = [value for pair in pairs for value in pair["labels"].values()]
    assert set(values) <= {0.0, 1.0} and len(values) == 5 * len(pairs)
    assert unknown_in_reports > 0  # the reports leave findings unmentioned; the true state does not


def test_summary_tables_several_runs(tmp_path, capsys):
    from evaluate.summary import main as summary

    for name, cmig in (("a", 61.5), ("b", 70.25)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.csv").write_text(
            f"system,metric,value\nmedjourney,cmig,{cmig}\nmedjourney,truth/ssim,0.8123\nidentity,cmig,99\n")
    assert summary([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "none")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| a | 61.50 | n/a") and "| 0.812 |" in lines[2]
    assert lines[3].startswith("| b | 70.25 |")
    assert lines[4].startswith("| none | missing")


def test_change_kinds_and_the_described_side():
    import numpy as np
    import torch

    from evaluate.run import by_change_kind, change_kind

    assert change_kind({"finding": "effusion", "where": "left", "before": 0, "after": 2}) == "new effusion (left)"
    assert change_kind({"finding": "consolidation", "where": "right upper lobe", "before": 2, "after": 0}) == \
        "resolved consolidation (right)"
    assert change_kind({"finding": "edema", "where": None, "before": 1, "after": 3}) == "increased edema"
    prior = np.zeros((8, 8), np.float32)
    truth = prior.copy()
    truth[4:, :3] = 1.0  # a new opacity on the image's left third
    changed = truth > 0
    right_side = np.where(changed, 0.8, 0.0)  # the change, on the described side
    wrong_side = np.where(changed[:, ::-1], 0.8, 0.0)  # the same change mirrored
    pairs = [{"changes": [{"finding": "effusion", "where": "right", "before": 0, "after": 2}]}] * 2
    images = torch.tensor(np.stack([right_side, wrong_side]))[:, None]
    priors = torch.zeros_like(images)
    result = by_change_kind(pairs, images, priors, [(truth, changed)] * 2)["new effusion (right)"]
    assert result["n"] == 2 and result["described_side_ahead"] == 0.5
    assert abs(result["change_achieved"] - 0.4) < 1e-6  # 0.8 on one pair, 0 on the other


def test_settings_are_recorded_as_used_not_as_typed(setup, tmp_path, monkeypatch):
    import json

    from medjourney_core.pipeline import MedJourneyPipeline

    monkeypatch.setattr("evaluate.evaluators.PHANTOM_DIR", setup / "evaluators")
    out = tmp_path / "eval"
    assert run(setup, out, "--systems", "medjourney,text-only", "--text-only-model", str(setup / "model"), "--limit", "2") == 0
    defaults = MedJourneyPipeline.from_pretrained(setup / "model").config
    record = json.loads((out / "generated" / "medjourney" / "settings.json").read_text())
    assert (record["text_guidance"], record["image_guidance"], record["strength"]) == (
        defaults.default_guidance_text, defaults.default_guidance_image, defaults.default_strength)
    assert json.loads((out / "generated" / "text-only" / "settings.json").read_text())["strength"] == 1.0
    # Spelling the defaults out is the same run: it resumes instead of refusing.
    assert run(setup, out, "--systems", "medjourney", "--limit", "2", "--text-guidance", str(defaults.default_guidance_text),
               "--image-guidance", str(defaults.default_guidance_image)) == 0
