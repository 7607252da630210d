import json

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from app.models import ModelRegistry, choose_model
from app.ui import build_demo, difference_map, generate
from tests.conftest import REAL_DICOM, REAL_PNG


def test_no_configured_model_is_said_plainly(monkeypatch, tmp_path):
    monkeypatch.delenv("MEDJOURNEY_MODEL", raising=False)
    monkeypatch.setattr("app.models.DEFAULT_MODEL", tmp_path / "absent")
    registry = ModelRegistry(choose_model(None, False))
    ready, status = registry.describe()
    assert not ready and "No trained model is configured" in status
    build_demo(registry)  # the page still builds, with Generate disabled


def test_untrained_model_is_refused_unless_allowed(tiny_checkpoint):
    ready, status = ModelRegistry(choose_model(str(tiny_checkpoint), False)).describe()
    assert not ready and "untrained" in status
    ready, status = ModelRegistry(choose_model(str(tiny_checkpoint), True)).describe()
    assert ready and "UNTRAINED" in status
    with pytest.raises(gr.Error, match="untrained"):
        generate(ModelRegistry(choose_model(str(tiny_checkpoint), False)), str(REAL_PNG), "new edema", "as written",
                 7.5, 1.5, 2, 0, progress=lambda *a, **k: None)


def test_generate_handler_returns_images_and_provenance(tiny_checkpoint):
    registry = ModelRegistry(choose_model(str(tiny_checkpoint), True))
    prior, counterfactual, difference, record = generate(
        registry, str(REAL_DICOM), "small left effusion", "large", 7.5, 1.5, 2, 3, progress=lambda *a, **k: None)
    assert isinstance(counterfactual, Image.Image) and counterfactual.size == (64, 64)
    assert difference.shape == (64, 64, 3)
    record = json.loads(record)
    assert record["instruction"] == "large left effusion" and record["seed"] == 3


def test_bad_upload_is_a_readable_error_and_the_next_request_works(tiny_checkpoint, tmp_path):
    registry = ModelRegistry(choose_model(str(tiny_checkpoint), True))
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(REAL_PNG.read_bytes()[:500])
    with pytest.raises(gr.Error, match="truncated or corrupt"):
        generate(registry, str(corrupt), "new edema", "as written", 7.5, 1.5, 2, 0, progress=lambda *a, **k: None)
    assert generate(registry, str(REAL_PNG), "new edema", "as written", 7.5, 1.5, 2, 0,
                    progress=lambda *a, **k: None)[1].size == (64, 64)


def test_difference_map_colours_the_sign_of_change():
    before = np.full((8, 8), 0.5, np.float32)
    after = before.copy()
    after[:4] += 0.2
    after[4:] -= 0.2
    rgb = difference_map(before, after)
    assert rgb[0, 0, 0] > rgb[0, 0, 2] and rgb[7, 7, 2] > rgb[7, 7, 0]
