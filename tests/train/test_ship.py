import json

from evaluate.evaluators import PhantomEvaluators
from evaluate.train_evaluators import train as train_evaluators
from medjourney_core.pipeline import MedJourneyPipeline
from medjourney_core.tiny import make_tiny_pipeline
from train.ship import main


def test_ship_sets_guidance_copies_evaluators_and_records_metrics(tmp_path, prepared):
    pipeline = make_tiny_pipeline(resolution=64, seed=0)
    pipeline.config.trained = True  # random weights, marked trained only so that shipping can run
    pipeline.save_pretrained(tmp_path / "stage2")
    pipeline.save_pretrained(tmp_path / "stage1")
    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    (evaluation / "metrics.csv").write_text("system,metric,value\nmedjourney,cmig,71.5\nidentity,cmig,60.0\n")
    train_evaluators(tmp_path / "evaluators", patients=4, studies=2, seed=5, steps=2, progress=False)
    out = tmp_path / "assets"

    assert main(["--stage2", str(tmp_path / "stage2"), "--stage1", str(tmp_path / "stage1"), "--data", str(prepared),
                 "--eval", str(evaluation), "--evaluators", str(tmp_path / "evaluators"), "--guidance", "4.5", "2.5", "--strength", "0.8",
                 "--out", str(out)]) == 0

    shipped = MedJourneyPipeline.from_pretrained(out / "medjourney-phantom")
    assert (shipped.config.default_guidance_text, shipped.config.default_guidance_image) == (4.5, 2.5)
    assert shipped.config.default_strength == 0.8
    stage1 = MedJourneyPipeline.from_pretrained(out / "medjourney-phantom-stage1")
    assert (stage1.config.default_guidance_text, stage1.config.default_strength) == (4.5, 1.0)
    assert shipped.config.metrics["cmig"] == 71.5  # MedJourney's row, not identity's
    assert shipped.config.metrics["cmig of identity"] == 60.0  # the comparison travels with the card
    assert "text guidance 4.5, image guidance 2.5" in (out / "medjourney-phantom" / "README.md").read_text()
    PhantomEvaluators(out / "evaluators" / "phantom")  # loads
    examples = json.loads((out / "examples" / "examples.json").read_text())
    assert all((out / "examples" / e["image"]).is_file() and e["instruction"].startswith("New ") for e in examples)
