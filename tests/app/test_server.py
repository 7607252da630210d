import json

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from tests.conftest import REAL_DICOM, REAL_PNG


def test_generate_through_the_api_returns_an_image_and_provenance(server):
    client = Client(server, verbose=False)
    result = client.predict(handle_file(str(REAL_DICOM)), "new left pleural effusion", "moderate", 7.5, 1.5, 2, 5,
                            api_name="/generate")
    slider, note, difference, heatmap, overlay_prior, overlay_cf, chart, evidence, files, record = result
    before, after = slider
    assert Image.open(after).size == (64, 64)
    provenance = json.loads(record)
    assert provenance["instruction"] == "new moderate left pleural effusion" and provenance["seed"] == 5
    assert provenance["model_trained"] is False


def test_a_corrupt_upload_is_a_clear_error_and_the_server_keeps_serving(server, tmp_path):
    client = Client(server, verbose=False)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(REAL_PNG.read_bytes()[:400])
    with pytest.raises(Exception, match="truncated or corrupt"):
        client.predict(handle_file(str(corrupt)), "new edema", "as written", 7.5, 1.5, 2, 0, api_name="/generate")
    result = client.predict(handle_file(str(REAL_PNG)), "new edema", "as written", 7.5, 1.5, 2, 0, api_name="/generate")
    assert Image.open(result[0][1]).size == (64, 64)


def test_sweep_and_draft_endpoints(server):
    client = Client(server, verbose=False)
    gallery, gif, chart = client.predict(handle_file(str(REAL_PNG)), "new right pleural effusion", 7.5, 1.5, 2, 1,
                                         api_name="/sweep")
    assert len(gallery) == 4 and Image.open(gif).n_frames == 4
    description, note = client.predict("IMPRESSION: No effusion.", "IMPRESSION: New small left effusion.", api_name="/draft")
    assert "left" in description.lower() and "rule-based" in note
