"""The model card (README.md with Hub metadata) written into every checkpoint."""

from __future__ import annotations

from pathlib import Path

DISCLAIMER = "Research use only. Not for diagnosis or any clinical decision."


def write_model_card(directory: Path, config, text_spec, unet, vae) -> None:
    parameters = sum(p.numel() for p in unet.parameters()) / 1e6
    vae_parameters = sum(p.numel() for p in vae.parameters()) / 1e6
    status = "trained" if config.trained else "UNTRAINED (random weights, for tests and smoke runs only)"
    training = "\n".join(f"- {key}: {value}" for key, value in config.training.items()) or "- none recorded"
    metrics = "\n".join(f"- {key}: {value}" for key, value in config.metrics.items()) or "- none measured"
    card = f"""---
library_name: medjourney
pipeline_tag: image-to-image
tags:
- medical
- chest-x-ray
- counterfactual
- instruct-pix2pix
---

# {config.name}

A MedJourney checkpoint: counterfactual chest X-ray generation from a prior radiograph and a
progression description (InstructPix2Pix-style latent diffusion, after BiomedJourney, arXiv 2310.10765).

**Status: {status}.**

{DISCLAIMER}

## Components

- UNet: diffusers `UNet2DConditionModel`, {unet.config.in_channels} input channels, {parameters:.2f} M parameters
- Autoencoder: diffusers `AutoencoderKL`, {vae.config.in_channels} image channel(s), {vae_parameters:.2f} M parameters
- Text encoder (frozen): {text_spec.kind} `{text_spec.source}`, context {text_spec.max_length} tokens,
  followed by a learnable linear projection
- Resolution: {config.resolution} x {config.resolution}; defaults: {config.default_steps} steps of
  `{config.default_scheduler}`, text guidance {config.default_guidance_text}, image guidance {config.default_guidance_image},
  strength {config.default_strength} (1 = sampling from pure noise, lower = from the noised prior)

## Training

{training}

## Measured

{metrics}

{config.notes}

## Use

```python
from medjourney_core import MedJourneyPipeline
pipe = MedJourneyPipeline.from_pretrained("path/to/this/folder")
image = pipe(prior="prior.png", instruction="new moderate right pleural effusion", seed=0).images[0]
```
"""
    (Path(directory) / "README.md").write_text(card)
