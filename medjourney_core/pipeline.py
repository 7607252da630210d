"""The MedJourney pipeline: prior radiograph + progression description -> counterfactual follow-up.

InstructPix2Pix-style latent diffusion (paper section 4): the UNet sees the noisy
latent concatenated with the prior's latent (8 channels) and cross-attends to the
projected text states. Classifier-free guidance combines three branches in one
batched UNet call, exactly as diffusers' StableDiffusionInstructPix2PixPipeline:

    eps = eps(∅text, ∅image) + s_T (eps(text, image) - eps(∅text, image))
                             + s_I (eps(∅text, image) - eps(∅text, ∅image))

where ∅image is the all-zero latent and ∅text the encoding of the empty description.

    pipe = MedJourneyPipeline.from_pretrained("path/or/hub-id")
    out = pipe(prior="prior.png", instruction="new moderate right pleural effusion", seed=0)
    out.images[0].save("counterfactual.png")
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from tqdm.auto import tqdm

from . import __version__
from .config import MedJourneyConfig
from .errors import MedJourneyError, ModelLoadError, UntrainedModelError
from .image_io import from_vae_range, prepare, read_image, to_vae_range
from .model_card import write_model_card
from .quiet import quiet_loading
from .projection import TextProjection
from .schedulers import make_scheduler
from .severity import SEVERITIES, apply_severity
from .text_encoders import TextEncoder, TextEncoderSpec, load_text_encoder

PriorInput = str | os.PathLike | bytes | np.ndarray | torch.Tensor | Image.Image


@dataclass
class MedJourneyOutput:
    images: list  # PIL grayscale images, or a [N, H, W] array / tensor in [0, 1]
    instructions: list[str]  # the description each image was generated from (after severity)
    truncated: list[bool]  # whether that description exceeded the text encoder's context
    seeds: list[int | None]  # the noise seed of each image, for provenance


class MedJourneyPipeline:
    def __init__(
        self,
        unet: UNet2DConditionModel,
        vae: AutoencoderKL,
        scheduler,
        text_encoder: TextEncoder,
        text_projection: TextProjection,
        config: MedJourneyConfig | None = None,
    ):
        self.unet = unet.eval()
        self.vae = vae.eval()
        self.scheduler = scheduler
        self.text_encoder = text_encoder.eval()
        self.text_projection = text_projection.eval()
        self.config = config or MedJourneyConfig()
        # What a demo repeats all the time: the same prior with another description or slider value.
        self.prior_cache = BoundedCache(16)  # key: sha256 of the prepared prior's pixels (never a file name)
        self.text_cache = BoundedCache(256)  # key: the description's exact text
        if self.unet.config.in_channels != 2 * self.vae.config.latent_channels:
            raise ModelLoadError(
                f"The UNet takes {self.unet.config.in_channels} input channels; an instruction-editing UNet needs "
                f"{2 * self.vae.config.latent_channels} (noisy latent + prior latent)."
            )

    # ------------------------------------------------------------------ device and components

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def to(self, device=None, dtype: torch.dtype | None = None) -> "MedJourneyPipeline":
        if device is None and dtype is None:
            return self
        moves = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        with quiet_loading():
            for module in (self.unet, self.vae, self.text_projection):
                module.to(**moves)
        if device is not None:
            self.text_encoder.to(device=device)  # the frozen encoder keeps its own precision
        return self

    # ------------------------------------------------------------------ encoders

    @torch.no_grad()
    def encode_instructions(self, texts: Sequence[str]) -> tuple[torch.Tensor, list[bool]]:
        """Descriptions -> projected token states [B, L, cross_attention_dim], and truncation flags."""
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if self.text_cache.get(t) is None]
        if missing:
            encoded = self.text_encoder(missing)
            for index, text in enumerate(missing):
                self.text_cache.put(text, (encoded.hidden_states[index : index + 1], encoded.truncated[index]))
        states = torch.cat([self.text_cache.get(t)[0] for t in texts]).to(device=self.device, dtype=self.dtype)
        return self.text_projection(states), [self.text_cache.get(t)[1] for t in texts]

    def load_prior(self, prior: PriorInput) -> torch.Tensor:
        """Any supported prior input -> [1, 1, R, R] in [0, 1] at the model's resolution."""
        if isinstance(prior, (str, os.PathLike, bytes)):
            prior, _ = read_image(prior)
        elif isinstance(prior, Image.Image):
            prior = np.asarray(prior.convert("L"), dtype=np.float32) / 255.0
        if isinstance(prior, torch.Tensor) and prior.dim() == 4 and prior.shape[0] > 1:
            return torch.cat([prepare(p, size=self.config.resolution) for p in prior])
        return prepare(prior, size=self.config.resolution)

    @torch.no_grad()
    def encode_prior(self, prior: torch.Tensor) -> torch.Tensor:
        """[B, 1, R, R] in [0, 1] -> the VAE latent's mode [B, 4, R/8, R/8] (unscaled, as InstructPix2Pix).
        Latents of recently seen priors come from a bounded cache keyed by a hash of their pixels."""
        latents = []
        for single in prior:
            key = hashlib.sha256(single.detach().float().cpu().numpy().tobytes()).hexdigest()
            cached = self.prior_cache.get(key)
            if cached is None:
                pixels = to_vae_range(single[None].to(device=self.device, dtype=self.dtype))
                cached = self.vae.encode(pixels.expand(-1, self.vae.config.in_channels, -1, -1)).latent_dist.mode()
                self.prior_cache.put(key, cached)
            latents.append(cached)
        return torch.cat(latents)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents -> grayscale images [B, H, W] in [0, 1]."""
        pixels = self.vae.decode(latents / self.vae.config.scaling_factor).sample
        return from_vae_range(pixels.float()).mean(dim=1)

    # ------------------------------------------------------------------ generation

    @torch.no_grad()
    def __call__(
        self,
        prior: PriorInput,
        instruction: str | Sequence[str],
        severity: str | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        seed: int | None = None,
        num_images_per_prompt: int = 1,
        scheduler: str | None = None,
        output_type: str = "pil",
        progress: bool = True,
        callback: Callable[[int, int], None] | None = None,
        strength: float | None = None,
    ) -> MedJourneyOutput:
        steps = self.config.default_steps if num_inference_steps is None else num_inference_steps
        text_scale = self.config.default_guidance_text if guidance_scale is None else guidance_scale
        image_scale = self.config.default_guidance_image if image_guidance_scale is None else image_guidance_scale
        strength = self.config.default_strength if strength is None else strength
        _check_options(steps, text_scale, image_scale, num_images_per_prompt, output_type, strength)

        # 1. The descriptions, with the requested severity.
        prompts = [instruction] if isinstance(instruction, str) else list(instruction)
        if not prompts or any(not isinstance(p, str) for p in prompts):
            raise MedJourneyError("Give a progression description (text).")
        prompts = [apply_severity(p, severity).text for p in prompts]
        batch = len(prompts) * num_images_per_prompt
        texts = [p for p in prompts for _ in range(num_images_per_prompt)]

        # 2. Text conditions: (text, image), (∅text, image), (∅text, ∅image).
        text_states, truncated = self.encode_instructions(prompts)
        text_states = text_states.repeat_interleave(num_images_per_prompt, dim=0)
        truncated = [t for t in truncated for _ in range(num_images_per_prompt)]
        null_states = self.encode_instructions([""])[0].expand(batch, -1, -1)
        prompt_embeds = torch.cat([text_states, null_states, null_states])

        # 3. Image conditions: the prior's latent twice, then the all-zero latent. One prior serves
        #    every description, or a batch of priors [P, 1, H, W] gives each description its own.
        priors = self.load_prior(prior)
        if priors.shape[0] not in (1, len(prompts)):
            raise MedJourneyError(f"Got {priors.shape[0]} priors for {len(prompts)} descriptions.")
        prior_latents = self.encode_prior(priors)
        prior_latents = prior_latents.repeat_interleave(batch // prior_latents.shape[0], dim=0)
        image_latents = torch.cat([prior_latents, prior_latents, torch.zeros_like(prior_latents)])

        # 4. Initial noise, one generator per image so that a batch reproduces single runs. With
        #    strength < 1 sampling starts part-way, from the prior's latent noised to that level (as
        #    image-to-image): the prior's overall brightness and layout then come from the prior.
        generators, seeds = _generators(generator, seed, len(prompts), num_images_per_prompt)
        sampler = make_scheduler(scheduler or self.config.default_scheduler, self.scheduler.config)
        sampler.set_timesteps(steps, device=self.device)
        timesteps = sampler.timesteps
        noise = randn_tensor(prior_latents.shape, generator=generators, device=self.device, dtype=self.dtype)
        if strength < 1.0:
            skipped = (steps - max(1, round(steps * strength))) * sampler.order
            timesteps = timesteps[skipped:]
            if hasattr(sampler, "set_begin_index"):
                sampler.set_begin_index(skipped)
            anchor = prior_latents * self.vae.config.scaling_factor
            latents = sampler.add_noise(anchor, noise, timesteps[:1].repeat(len(anchor)))
        else:
            latents = noise * sampler.init_noise_sigma
        step_kwargs = _step_kwargs(sampler, generators)

        # 5. Denoise with three-branch guidance, one batched UNet call per step.
        for index, t in enumerate(tqdm(timesteps, desc="denoising", disable=not progress, leave=False)):
            model_input = sampler.scale_model_input(torch.cat([latents] * 3), t)
            model_input = torch.cat([model_input, image_latents], dim=1)
            noise = self.unet(model_input, t, encoder_hidden_states=prompt_embeds).sample
            noise_text, noise_image, noise_uncond = noise.chunk(3)
            noise = (
                noise_uncond
                + text_scale * (noise_text - noise_image)
                + image_scale * (noise_image - noise_uncond)
            )
            latents = sampler.step(noise, t, latents, **step_kwargs).prev_sample
            if callback is not None:
                callback(index + 1, len(timesteps))

        # 6. Decode to grayscale.
        images = self.decode(latents)
        return MedJourneyOutput(_as_output(images, output_type), texts, truncated, seeds)

    def sweep(
        self,
        prior: PriorInput,
        instruction: str,
        severities: Sequence[str] = SEVERITIES,
        seed: int | None = None,
        **kwargs,
    ) -> MedJourneyOutput:
        """All severities of one description in one batched generation, sharing the same noise seed."""
        prompts = [apply_severity(instruction, severity).text for severity in severities]
        if seed is None and kwargs.get("generator") is None:
            seed = secrets.randbelow(2**31)
        return self(prior, prompts, seed=seed, **kwargs)

    # ------------------------------------------------------------------ checkpoints

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        allow_untrained: bool = True,
    ) -> "MedJourneyPipeline":
        """Load a checkpoint directory (local path or Hugging Face Hub id)."""
        directory = _resolve_checkpoint(name_or_path)
        config = MedJourneyConfig.load(directory)
        if not config.trained and not allow_untrained:
            raise UntrainedModelError(
                f"The model at {name_or_path} is untrained (random weights); its output would mean nothing. "
                "Configure a trained model, or allow untrained models explicitly for testing."
            )
        try:
            with quiet_loading():
                unet = UNet2DConditionModel.from_pretrained(directory / "unet")
                vae = AutoencoderKL.from_pretrained(directory / "vae")
                projection = TextProjection.from_pretrained(directory / "text_projection")
            schedule = json.loads((directory / "scheduler" / "scheduler_config.json").read_text())
            scheduler = make_scheduler(_scheduler_key(schedule.get("_class_name", "")), schedule)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
            raise ModelLoadError(f"The checkpoint at {name_or_path} is incomplete or corrupt: {error}") from None
        text_encoder = load_text_encoder(TextEncoderSpec.load(directory / "text_encoder"), base_dir=directory / "text_encoder")
        if text_encoder.hidden_size != projection.config.in_features:
            raise ModelLoadError(
                f"The text encoder gives {text_encoder.hidden_size}-wide states but the projection expects "
                f"{projection.config.in_features}."
            )
        pipeline = cls(unet, vae, scheduler, text_encoder, projection, config)
        return pipeline.to(device=device, dtype=dtype)

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write the checkpoint atomically: a half-written checkpoint never replaces a good one."""
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            with quiet_loading():
                self.unet.save_pretrained(staging / "unet")
                self.vae.save_pretrained(staging / "vae")
                self.scheduler.save_pretrained(staging / "scheduler")
                self.text_projection.save_pretrained(staging / "text_projection")
                save_text_encoder(self.text_encoder, staging / "text_encoder")
            self.config.save(staging)
            (staging / "model_index.json").write_text(json.dumps(self._model_index(), indent=2) + "\n")
            write_model_card(staging, self.config, self.text_encoder.spec, self.unet, self.vae)
            if target.exists():
                retired = target.with_name(f".{target.name}.old")
                shutil.rmtree(retired, ignore_errors=True)
                os.replace(target, retired)
                os.replace(staging, target)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _model_index(self) -> dict:
        return {
            "_class_name": "MedJourneyPipeline",
            "_medjourney_version": __version__,
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
            "scheduler": ["diffusers", type(self.scheduler).__name__],
            "text_projection": ["medjourney_core", "TextProjection"],
            "text_encoder": ["medjourney_core", self.text_encoder.spec.kind],
        }


class BoundedCache:
    """A small thread-safe LRU map: at most `capacity` entries, the least recently used evicted first."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def save_text_encoder(encoder: TextEncoder, directory: Path) -> None:
    """Save the reference; a bundled encoder (source '.') is saved with its weights and tokenizer."""
    directory.mkdir(parents=True, exist_ok=True)
    encoder.spec.save(directory)
    if encoder.spec.source in (".", "local-dir:."):
        encoder.model.save_pretrained(directory)
        encoder.tokenizer.save_pretrained(directory)


def _resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    looks_like_hub_id = name.count("/") == 1 and not name.startswith((".", "/", "~")) and not path.suffix
    if not looks_like_hub_id:
        raise ModelLoadError(f"No checkpoint folder at {name}.")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=name))
    except Exception as error:  # noqa: BLE001 - offline, missing repo, auth: all mean "cannot get it"
        raise ModelLoadError(
            f"Could not fetch '{name}' from the Hugging Face Hub ({type(error).__name__}). "
            "Offline, pass a local checkpoint folder or pre-download it into the Hub cache."
        ) from None


def _scheduler_key(class_name: str) -> str:
    return {
        "EulerAncestralDiscreteScheduler": "euler_a",
        "DPMSolverMultistepScheduler": "dpm++",
    }.get(class_name, "ddim")


def _check_options(steps: int, text_scale: float, image_scale: float, per_prompt: int, output_type: str,
                   strength: float = 1.0) -> None:
    if not isinstance(steps, int) or not 1 <= steps <= 1000:
        raise MedJourneyError(f"Steps must be between 1 and 1000, not {steps}.")
    if not np.isfinite(strength) or not 0.0 < strength <= 1.0:
        raise MedJourneyError(f"Strength must be above 0 and at most 1, not {strength}.")
    for name, value in (("Text guidance", text_scale), ("Image guidance", image_scale)):
        if not np.isfinite(value) or not 0.0 <= value <= 50.0:
            raise MedJourneyError(f"{name} must be between 0 and 50, not {value}.")
    if not isinstance(per_prompt, int) or not 1 <= per_prompt <= 16:
        raise MedJourneyError(f"Images per description must be between 1 and 16, not {per_prompt}.")
    if output_type not in ("pil", "np", "pt"):
        raise MedJourneyError(f"output_type must be 'pil', 'np' or 'pt', not {output_type!r}.")


def _generators(generator, seed: int | None, prompts: int, per_prompt: int):
    """One CPU generator per image. With a seed, image k of every prompt gets seed + k."""
    if generator is not None:
        generators = generator if isinstance(generator, list) else [generator]
        if len(generators) == 1 and prompts * per_prompt > 1:
            # A single generator drives the whole batch, as in diffusers.
            return generators[0], [None] * (prompts * per_prompt)
        if len(generators) != prompts * per_prompt:
            raise MedJourneyError(f"Got {len(generators)} generators for {prompts * per_prompt} images.")
        return generators, [None] * len(generators)
    if seed is None:
        seed = secrets.randbelow(2**31)
    seeds = [seed + k for _ in range(prompts) for k in range(per_prompt)]
    return [torch.Generator("cpu").manual_seed(s) for s in seeds], seeds


def _step_kwargs(sampler, generators) -> dict:
    import inspect

    accepted = set(inspect.signature(sampler.step).parameters)
    kwargs = {}
    if "eta" in accepted:
        kwargs["eta"] = 0.0
    if "generator" in accepted:
        kwargs["generator"] = generators
    return kwargs


def _as_output(images: torch.Tensor, output_type: str):
    if output_type == "pt":
        return images.cpu()
    array = images.cpu().numpy()
    if output_type == "np":
        return array
    return [Image.fromarray(np.round(a * 255.0).astype(np.uint8)) for a in array]
