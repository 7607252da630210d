"""The offline default model as shipped in assets/: it loads offline, and on its own example priors it
makes the described change where the shipped evaluators can see it, keeping the patient."""

import json
from pathlib import Path

import pytest
import torch

from app.models import DEFAULT_MODEL, DEFAULT_TEXT_ONLY_MODEL
from evaluate.evaluators import PHANTOM_DIR, PhantomEvaluators
from evaluate.metrics import FINDINGS
from medjourney_core.pipeline import MedJourneyPipeline

EXAMPLES = Path(DEFAULT_MODEL).parent / "examples"


@pytest.fixture(scope="module")
def shipped():
    return MedJourneyPipeline.from_pretrained(DEFAULT_MODEL, allow_untrained=False), PhantomEvaluators(PHANTOM_DIR)


def test_the_shipped_models_are_trained_and_carry_their_card():
    for folder in (DEFAULT_MODEL, DEFAULT_TEXT_ONLY_MODEL):
        model = MedJourneyPipeline.from_pretrained(folder, allow_untrained=False)
        assert model.config.trained and model.config.resolution == 256
        card = (Path(folder) / "README.md").read_text()
        assert "phantom" in card and "not for diagnosis" in card.lower()


@pytest.mark.parametrize("finding, instruction", [("Pleural Effusion", "New moderate left pleural effusion."),
                                                  ("Cardiomegaly", "New moderate cardiomegaly."),
                                                  ("Pleural Effusion", "New large right pleural effusion.")])
def test_a_new_finding_appears_and_the_patient_stays(shipped, finding, instruction):
    pipeline, evaluators = shipped
    priors = [e["image"] for e in json.loads((EXAMPLES / "examples.json").read_text())]
    before, after = [], []
    for name in priors:
        prior = pipeline.load_prior(str(EXAMPLES / name))
        output = pipeline(prior, instruction, seed=0, output_type="pt", progress=False).images
        before.append(prior)
        after.append(output[:, None])
    before, after = torch.cat(before), torch.cat(after)
    column = FINDINGS.index(finding)
    # The described finding's probability rises on average over the example priors ...
    assert evaluators.pathology(after)[:, column].mean() > evaluators.pathology(before)[:, column].mean() + 0.1
    # ... the sex proxy is kept, and the image stays close to the prior outside the change.
    assert (evaluators.race(after).argmax(1) == evaluators.race(before).argmax(1)).all()
    assert float((after - before).abs().mean()) < 0.1


@pytest.mark.parametrize("side", ["left", "right"])
def test_an_effusion_goes_to_the_described_side(shipped, side):
    pipeline, _ = shipped
    names = [e["image"] for e in json.loads((EXAMPLES / "examples.json").read_text())]
    priors = torch.cat([pipeline.load_prior(str(EXAMPLES / name)) for name in names])
    output = pipeline(priors, [f"New moderate {side} pleural effusion."] * len(names), seed=0, output_type="pt",
                      progress=False).images
    lower = (output - priors[:, 0])[:, 160:, :]  # the lower third, where fluid collects
    image_left, image_right = lower[:, :, :128].mean().item(), lower[:, :, 128:].mean().item()
    # A PA film shows the patient's left on the image's right; fluid is denser (brighter) than lung.
    described, other = (image_right, image_left) if side == "left" else (image_left, image_right)
    assert described > other + 0.015
