"""Building the trainable MedJourney components: from scratch, from Stable Diffusion 1.5, or from a
MedJourney checkpoint (stage 2 continues from stage 1)."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

from medjourney_core.errors import MedJourneyError
from medjourney_core.projection import TextProjection
from medjourney_core.quiet import quiet_loading
from medjourney_core.schedulers import sd15_schedule
from medjourney_core.text_encoders import TextEncoderSpec, load_text_encoder

from .config import TrainConfig


def widen_conv_in(unet: UNet2DConditionModel, in_channels: int) -> UNet2DConditionModel:
    """Give a 4-channel UNet `in_channels` inputs; the new channels start at zero (InstructPix2Pix)."""
    old = unet.conv_in
    if old.in_channels == in_channels:
        return unet
    new = torch.nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels] = old.weight
        new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=in_channels)
    return unet


def build(config: TrainConfig, init: str | None = None, device: str = "cpu"):
    """(unet, vae, text_encoder, projection, noise_scheduler) ready for training."""
    torch.manual_seed(config.seed)
    model = config.model
    with quiet_loading():
        if init:
            from medjourney_core.pipeline import MedJourneyPipeline

            pipeline = MedJourneyPipeline.from_pretrained(init, allow_untrained=True)
            if pipeline.config.resolution != config.resolution:
                raise MedJourneyError(
                    f"--init was trained at {pipeline.config.resolution} px but this config trains at {config.resolution}."
                )
            unet, vae, text_encoder, projection = (pipeline.unet, pipeline.vae, pipeline.text_encoder,
                                                   pipeline.text_projection)
            schedule = pipeline.scheduler.config
        elif model.init == "sd15":
            unet = UNet2DConditionModel.from_pretrained(model.sd15, subfolder="unet")
            vae = AutoencoderKL.from_pretrained(model.sd15, subfolder="vae")
            unet = widen_conv_in(unet, 2 * vae.config.latent_channels)
            text_encoder = load_text_encoder(TextEncoderSpec(model.text_encoder_kind, model.text_encoder, model.text_max_length))
            projection = TextProjection(text_encoder.hidden_size, unet.config.cross_attention_dim)
            schedule = sd15_schedule().config
        elif model.init == "scratch":
            vae = AutoencoderKL.from_pretrained(model.vae) if model.vae else AutoencoderKL(
                sample_size=config.resolution, **model.vae_architecture)
            latent = vae.config.latent_channels
            factor = 2 ** (len(vae.config.block_out_channels) - 1)
            unet = UNet2DConditionModel(sample_size=config.resolution // factor, in_channels=2 * latent,
                                        out_channels=latent, **model.unet)
            text_encoder = load_text_encoder(TextEncoderSpec(model.text_encoder_kind, model.text_encoder, model.text_max_length))
            projection = TextProjection(text_encoder.hidden_size, unet.config.cross_attention_dim)
            schedule = sd15_schedule().config
        else:
            raise MedJourneyError(f"model.init must be 'scratch' or 'sd15', not {model.init!r}.")
    noise_scheduler = DDPMScheduler.from_config(dict(schedule, prediction_type=model.prediction_type))
    vae.requires_grad_(False).eval()
    text_encoder.requires_grad_(False).eval()
    unet.train()
    projection.train()
    return unet.to(device), vae.to(device), text_encoder.to(device), projection.to(device), noise_scheduler
