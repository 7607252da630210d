import json

import numpy as np
import pytest
from PIL import Image

from app import handlers
from app.models import LazyModel, Registry, Settings, choose_model
from app.ui import build_demo
from medjourney_core import MedJourneyError
from medjourney_core.analysis import difference_map
from tests.conftest import REAL_DICOM, REAL_PNG


def registry_for(checkpoint, allow, evaluators=None):
    settings = Settings(model=choose_model(str(checkpoint), allow), text_only=choose_model(str(checkpoint), allow),
                        evaluators="phantom")
    return Registry(settings)


@pytest.fixture
def registry(tiny_checkpoint, tiny_evaluators, monkeypatch):
    monkeypatch.setenv("MEDJOURNEY_PHANTOM_EVALUATORS", str(tiny_evaluators))
    return registry_for(tiny_checkpoint, True)


def test_no_configured_model_is_said_plainly(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDJOURNEY_MODEL", raising=False)
    monkeypatch.setattr("app.models.DEFAULT_MODEL", tmp_path / "absent")
    choice = choose_model(None, False)
    ready, status = LazyModel(choice, "cpu").describe()
    assert not ready and "No trained model is configured" in status
    build_demo(Registry(Settings(model=choice, text_only=choice)))  # the page builds, Generate disabled


def test_untrained_model_is_refused_unless_allowed(tiny_checkpoint):
    ready, status = LazyModel(choose_model(str(tiny_checkpoint), False), "cpu").describe()
    assert not ready and "untrained" in status
    ready, status = LazyModel(choose_model(str(tiny_checkpoint), True), "cpu").describe()
    assert ready and "UNTRAINED" in status
    with pytest.raises(MedJourneyError, match="untrained"):
        handlers.generate(registry_for(tiny_checkpoint, False), str(REAL_PNG), "new edema", "as written", 7.5, 1.5, 2, 0)


def test_generate_returns_images_evidence_and_provenance(registry):
    out = handlers.generate(registry, str(REAL_DICOM), "small left effusion", "large", 7.5, 1.5, 2, 3)
    assert out["counterfactual"].shape == (64, 64) and out["difference"].shape == (64, 64, 3)
    assert out["overlay_prior"].shape == (64, 64, 3) and out["heatmap"].shape == (64, 64, 3)
    assert out["probabilities"].shape == (2, 5)
    assert out["provenance"]["instruction"] == "large left effusion" and out["provenance"]["seed"] == 3
    png, record = out["files"]
    assert json.loads(open(record).read())["disclaimer"].startswith("Research use only")
    assert Image.open(png).text["medjourney"]


def test_sweep_gives_every_severity_and_a_gif(registry):
    out = handlers.sweep(registry, str(REAL_PNG), "new right pleural effusion", 7.5, 1.5, 2, 1)
    assert [caption for _, caption in out["gallery"]][1:] == [f"new {s} right pleural effusion" for s in ("slight", "moderate", "large")]
    assert Image.open(out["gif"]).n_frames == 4 and out["chart"] is not None


def test_compare_shows_unavailable_systems_with_a_reason(registry):
    panels = handlers.compare(registry, str(REAL_PNG), "new left effusion", "", 7.5, 1.5, 2, 0)
    assert panels["medjourney"][0].shape == (64, 64) and panels["text-only"][0].shape == (64, 64)
    image, reason = panels["ip2p"]
    assert image is None and "--ip2p-model" in reason


def test_draft_uses_the_rules_unless_an_endpoint_is_configured(registry):
    text, note = handlers.draft(registry, "IMPRESSION: Small left effusion.", "IMPRESSION: Large left effusion.")
    assert "left pleural effusion" in text.lower() and "rule-based" in note


def test_bad_input_is_a_readable_error_and_the_next_request_works(registry, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(REAL_PNG.read_bytes()[:500])
    with pytest.raises(MedJourneyError, match="truncated or corrupt"):
        handlers.generate(registry, str(corrupt), "new edema", "as written", 7.5, 1.5, 2, 0)
    with pytest.raises(MedJourneyError, match="Only PNG, JPEG and DICOM"):
        handlers.generate(registry, str(tmp_path / "x.exe"), "new edema", "as written", 7.5, 1.5, 2, 0)
    with pytest.raises(MedJourneyError, match="Describe the change"):
        handlers.generate(registry, str(REAL_PNG), "  ", "as written", 7.5, 1.5, 2, 0)
    assert handlers.generate(registry, str(REAL_PNG), "new edema", "as written", 7.5, 1.5, 2, 0)["counterfactual"].shape == (64, 64)


def test_difference_map_colours_the_sign_of_change():
    before = np.full((8, 8), 0.5, np.float32)
    after = before.copy()
    after[:4] += 0.2
    after[4:] -= 0.2
    rgb = difference_map(before, after)
    assert rgb[0, 0, 0] > rgb[0, 0, 2] and rgb[7, 7, 2] > rgb[7, 7, 0]
