"""The systems evaluation compares, each answering `generate(priors, descriptions, impressions, seed)`
with images [B, R, R] in [0, 1]. A system whose weights are absent is reported as not run, with why."""

from __future__ import annotations


import torch
import torch.nn.functional as F

from medjourney_core.errors import MedJourneyError

SD_PREFIX = "a photo of chest x-ray"  # paper 5.1: Stable Diffusion needs it to draw a radiograph


class Unavailable(Exception):
    """Raised by a system's constructor when it cannot run here; the message says why."""


class Identity:
    name = "identity"
    description = "returns the prior: perfect retention, no change"

    def generate(self, priors, descriptions, impressions, seed):
        return priors[:, 0].numpy()


class MedJourney:
    description = "MedJourney: prior + progression description"

    def __init__(self, checkpoint: str, steps: int | None, device: str, name: str = "medjourney",
                 guidance: tuple[float | None, float | None] = (None, None), strength: float | None = None):
        from medjourney_core.pipeline import MedJourneyPipeline

        if not checkpoint:
            raise Unavailable("no checkpoint given (--model)")
        try:
            self.pipeline = MedJourneyPipeline.from_pretrained(checkpoint, device=device, allow_untrained=False)
        except MedJourneyError as error:
            raise Unavailable(str(error)) from None
        config = self.pipeline.config
        self.name, self.checkpoint = name, checkpoint
        self.steps = config.default_steps if steps is None else steps
        # None means the checkpoint's default; keep the effective value, which is what a run depends on.
        self.text_scale = config.default_guidance_text if guidance[0] is None else guidance[0]
        self.image_scale = config.default_guidance_image if guidance[1] is None else guidance[1]
        self.strength = config.default_strength if strength is None else strength

    def generate(self, priors, descriptions, impressions, seed):
        out = self.pipeline(priors, descriptions, seed=seed, num_inference_steps=self.steps, guidance_scale=self.text_scale,
                            image_guidance_scale=self.image_scale, strength=self.strength, output_type="np", progress=False)
        return out.images


class TextOnly(MedJourney):
    """A stage-1 model fed the reference impression with the dummy prior: the RoentGen setting. It
    samples from pure noise (strength 1: there is no prior to start from) with the same guidance as
    MedJourney, so that a run does not depend on defaults stored in the stage-1 checkpoint."""

    description = "stage-1 model, reference impression, dummy prior (RoentGen setting)"

    def __init__(self, checkpoint: str, steps: int | None, device: str,
                 guidance: tuple[float | None, float | None] = (None, None)):
        if not checkpoint:
            raise Unavailable("no stage-1 checkpoint given (--text-only-model)")
        super().__init__(checkpoint, steps, device, name="text-only", guidance=guidance, strength=1.0)

    def generate(self, priors, descriptions, impressions, seed):
        dummy = torch.full_like(priors, 128.0 / 255.0)
        out = self.pipeline(dummy, impressions, seed=seed, num_inference_steps=self.steps, guidance_scale=self.text_scale,
                            image_guidance_scale=self.image_scale, strength=1.0, output_type="np", progress=False)
        return out.images


class DiffusersBaseline:
    """RoentGen or Stable Diffusion (text-to-image), or InstructPix2Pix, from a local path or Hub id."""

    def __init__(self, name: str, source: str | None, device: str, steps: int | None):
        self.name, self.steps, self.device = name, steps or 50, device
        if not source:
            raise Unavailable(f"no weights given (--{name} PATH_OR_HUB_ID)")
        try:
            if name == "ip2p":
                from diffusers import StableDiffusionInstructPix2PixPipeline as Pipeline
            else:
                from diffusers import StableDiffusionPipeline as Pipeline
            self.pipeline = Pipeline.from_pretrained(source, safety_checker=None, requires_safety_checker=False).to(device)
            self.pipeline.set_progress_bar_config(disable=True)
        except Exception as error:  # noqa: BLE001 - missing folder, offline Hub, wrong layout
            raise Unavailable(f"weights could not be loaded from {source}: {type(error).__name__}") from None
        self.description = {"roentgen": "RoentGen (text only, reference impression)",
                            "sd": "Stable Diffusion (text only, reference impression)",
                            "ip2p": "InstructPix2Pix (prior + description)"}[name]

    def generate(self, priors, descriptions, impressions, seed):
        generator = torch.Generator(self.device).manual_seed(seed)
        size = priors.shape[-1]
        if self.name == "ip2p":
            images = self.pipeline(descriptions, image=priors.expand(-1, 3, -1, -1), num_inference_steps=self.steps,
                                   generator=generator, output_type="pt").images
        else:
            prompts = [f"{SD_PREFIX}, {t}" if self.name == "sd" else t for t in impressions]
            images = self.pipeline(prompts, num_inference_steps=self.steps, generator=generator, output_type="pt").images
        gray = images.float().mean(dim=1, keepdim=True).cpu()
        return F.interpolate(gray, size=(size, size), mode="bilinear", antialias=True)[:, 0].clamp(0, 1).numpy()


def build_systems(names: list[str], options) -> tuple[list, dict[str, str]]:
    """(runnable systems, {name: why not run})."""
    systems, skipped = [], {}
    for name in names:
        try:
            if name == "identity":
                systems.append(Identity())
            elif name == "medjourney":
                systems.append(MedJourney(options.model, options.steps, options.device, **_sampling(options)))
            elif name == "text-only":
                systems.append(TextOnly(options.text_only_model, options.steps, options.device,
                                        guidance=_sampling(options)["guidance"]))
            elif name in ("roentgen", "sd", "ip2p"):
                systems.append(DiffusersBaseline(name, getattr(options, name), options.device, options.steps))
            else:
                raise Unavailable("unknown system")
        except Unavailable as why:
            skipped[name] = str(why)
    for label, checkpoint in getattr(options, "ablations", None) or []:
        name = f"medjourney-{label}"
        try:
            systems.append(MedJourney(checkpoint, options.steps, options.device, name=name, **_sampling(options)))
        except Unavailable as why:
            skipped[name] = str(why)
    return systems, skipped


def _sampling(options) -> dict:
    """The MedJourney systems' guidance and strength from the command line (None: the checkpoint's)."""
    return {"guidance": (getattr(options, "text_guidance", None), getattr(options, "image_guidance", None)),
            "strength": getattr(options, "strength", None)}
