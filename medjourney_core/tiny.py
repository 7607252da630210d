"""Tiny random models of the real classes, for tests and smoke runs (seeded, never shown as meaningful).

They have the same classes and file layouts as the real components (diffusers UNet and
AutoencoderKL, a BERT or CLIP text model with its tokenizer, a BiomedCLIP-style open_clip
folder), so loading code is exercised for real without downloading anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from .config import MedJourneyConfig
from .projection import TextProjection
from .schedulers import sd15_schedule
from .text_encoders import TextEncoderSpec, load_text_encoder

# A small radiology vocabulary; anything else falls back to characters (WordPiece "##x").
_WORDS = """
no new small large moderate slight slightly moderately markedly mild trace tiny massive increased decreased
stable unchanged resolved resolving improved worsened worsening interval since prior comparison study change
left right bilateral pleural effusion effusions pneumothorax cardiomegaly edema atelectasis consolidation
opacity opacities lobe lower upper middle basilar apical heart size cardiac silhouette enlarged mediastinum
lung lungs the a an of and with in is are to on at or there has have been compared exam chest x ray
findings impression pulmonary vascular congestion pneumonia tube line catheter devices acute process
""".split()


def write_tiny_bert(directory: str | Path, seed: int = 0, max_positions: int = 128, hidden: int = 32) -> Path:
    """A 2-layer BERT with a WordPiece tokenizer, saved as a Hugging Face folder."""
    from transformers import BertConfig, BertModel, BertTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    characters = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:-()/'%")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + characters + [f"##{c}" for c in characters] + _WORDS
    vocab = list(dict.fromkeys(vocab))
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(str(directory / "vocab.txt"), do_lower_case=True, model_max_length=max_positions)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_positions,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    return directory


def write_tiny_clip_text(directory: str | Path, seed: int = 0, hidden: int = 32) -> Path:
    """A 2-layer CLIP text model with a byte-level BPE tokenizer (no merges), saved as a HF folder."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    symbols = sorted(ByteLevel.alphabet())  # the 256 byte symbols of byte-level BPE
    vocab = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    tokenizer = CLIPTokenizer(vocab={token: i for i, token in enumerate(vocab)}, merges=[], model_max_length=77)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,
        bos_token_id=len(vocab) - 2,
        eos_token_id=len(vocab) - 1,
        pad_token_id=len(vocab) - 1,
    )
    CLIPTextModel(config).save_pretrained(directory)
    return directory


def write_tiny_biomedclip(directory: str | Path, seed: int = 0, hidden: int = 32) -> Path:
    """A BiomedCLIP-layout open_clip folder (open_clip_config.json + weights + HF text tower), context 256."""
    import open_clip
    from safetensors.torch import save_file

    directory = Path(directory).resolve()
    write_tiny_bert(directory, seed=seed, max_positions=256, hidden=hidden)
    config = {
        "model_cfg": {
            "embed_dim": 16,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
            "text_cfg": {
                "hf_model_name": str(directory),
                "hf_tokenizer_name": str(directory),
                "hf_proj_type": "mlp",
                "hf_pooler_type": "cls_last_hidden_state_pooler",
                "context_length": 256,
            },
        },
        "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    }
    (directory / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{directory}", pretrained=None, load_weights=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, directory / "open_clip_model.safetensors")
    return directory


def tiny_unet(resolution: int, cross_attention_dim: int = 32, seed: int = 0) -> UNet2DConditionModel:
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=resolution // 8,
        in_channels=8,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=8,
        norm_num_groups=8,
    )


def tiny_vae(resolution: int, image_channels: int = 1, seed: int = 0) -> AutoencoderKL:
    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=image_channels,
        out_channels=image_channels,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=resolution,
    )


def make_tiny_pipeline(
    resolution: int = 256,
    image_channels: int = 1,
    text_encoder_dir: str | Path | None = None,
    text_kind: str = "hf",
    max_length: int = 64,
    seed: int = 0,
):
    """A complete random MedJourney pipeline, marked untrained.

    Without `text_encoder_dir`, a tiny BERT is built in a temporary folder and bundled into
    the checkpoint on save (source '.').
    """
    from .quiet import quiet_loading

    with quiet_loading():
        return _make_tiny_pipeline(resolution, image_channels, text_encoder_dir, text_kind, max_length, seed)


def _make_tiny_pipeline(resolution, image_channels, text_encoder_dir, text_kind, max_length, seed):
    from .pipeline import MedJourneyPipeline

    if text_encoder_dir is None:
        import tempfile

        text_encoder_dir = write_tiny_bert(Path(tempfile.mkdtemp(prefix="medjourney-tiny-bert-")), seed=seed)
        spec = TextEncoderSpec(kind="hf", source=str(text_encoder_dir), max_length=max_length)
        encoder = load_text_encoder(spec)
        encoder.spec = TextEncoderSpec(kind="hf", source=".", max_length=max_length)  # bundled on save
    else:
        encoder = load_text_encoder(TextEncoderSpec(kind=text_kind, source=str(text_encoder_dir), max_length=max_length))
    torch.manual_seed(seed)
    projection = TextProjection(encoder.hidden_size, 32)
    config = MedJourneyConfig(resolution=resolution, trained=False, name="medjourney-tiny-untrained",
                              default_steps=4, default_scheduler="ddim")
    return MedJourneyPipeline(
        tiny_unet(resolution, seed=seed), tiny_vae(resolution, image_channels, seed=seed), sd15_schedule(),
        encoder, projection, config,
    )
