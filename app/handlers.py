"""What each button does. Plain functions over the core (medjourney_core) and the registry; the Gradio
layout in ui.py only wires them. Errors come back as MedJourneyError with a readable message."""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path

import numpy as np
import torch

from medjourney_core import MedJourneyError, read_image
from medjourney_core.analysis import FINDINGS, difference_map, overlay, probability_chart, saliency, severity_chart
from medjourney_core.export import provenance, save_gif, save_png
from medjourney_core.image_io import to_pil
from medjourney_core.severity import SEVERITIES

from .models import Registry

MAX_STEPS = 100


ALLOWED_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".dicom", ""}


def _check(upload, instruction) -> None:
    if upload is None:
        raise MedJourneyError("Upload a chest X-ray (PNG, JPEG or DICOM) or pick an example first.")
    if Path(str(upload)).suffix.lower() not in ALLOWED_SUFFIXES:
        raise MedJourneyError("Only PNG, JPEG and DICOM files are accepted.")
    if not instruction or not str(instruction).strip():
        raise MedJourneyError("Describe the change, e.g. 'new moderate right pleural effusion'.")
    if len(str(instruction)) > 1000:
        raise MedJourneyError("The description is longer than 1,000 characters; shorten it.")


def _settings(steps, seed, guidance_text, guidance_image) -> dict:
    steps = int(steps)
    if not 1 <= steps <= MAX_STEPS:
        raise MedJourneyError(f"Steps must be between 1 and {MAX_STEPS}.")
    return dict(num_inference_steps=steps, guidance_scale=float(guidance_text),
                image_guidance_scale=float(guidance_image), seed=int(seed))


def generate(registry: Registry, upload, instruction, severity, guidance_text, guidance_image, steps, seed,
             progress=None) -> dict:
    """One counterfactual with its evidence. Returns a dict of outputs (images as arrays, figures, files)."""
    _check(upload, instruction)
    image, _ = read_image(upload)
    pipeline = registry.model.get()
    settings = _settings(steps, seed, guidance_text, guidance_image)
    prior = pipeline.load_prior(image)
    severity = None if severity in (None, "", "as written") else severity
    callback = (lambda step, total: progress(step / total, desc="denoising")) if progress else None
    output = pipeline(prior, str(instruction).strip(), severity=severity, output_type="np", progress=False,
                      callback=callback, **settings)
    before, after = prior[0, 0].numpy(), output.images[0]
    record = provenance(model_id=str(registry.settings.model.source), instruction=output.instructions[0],
                        seed=settings["seed"], steps=settings["num_inference_steps"],
                        guidance_text=settings["guidance_scale"], guidance_image=settings["image_guidance_scale"],
                        scheduler=pipeline.config.default_scheduler, trained=pipeline.config.trained,
                        severity=severity, truncated=output.truncated[0], strength=pipeline.config.default_strength)
    result = {"prior": before, "counterfactual": after, "difference": difference_map(before, after),
              "provenance": record, "instruction": output.instructions[0], "truncated": output.truncated[0]}
    result.update(evidence(registry, before, after))
    result["files"] = _downloads(after, record)
    return result


def evidence(registry: Registry, before: np.ndarray, after: np.ndarray) -> dict:
    """Anatomy overlays, the heatmap of the finding that changed most, and the probability chart."""
    try:
        evaluators = registry.evaluators()
    except MedJourneyError as error:
        return {"evidence_note": f"Overlays and heatmaps unavailable: {error}"}
    pair = torch.from_numpy(np.stack([before, after]))[:, None].float()
    probabilities = evaluators.pathology(pair)
    masks = evaluators.segment(pair)
    change = probabilities[1] - probabilities[0]
    focus = FINDINGS[int(np.argmax(np.abs(change)))]
    return {
        "overlay_prior": overlay(before, masks[0], evaluators.structures),
        "overlay_counterfactual": overlay(after, masks[1], evaluators.structures),
        "heatmap": saliency(evaluators, after, focus),
        "heatmap_finding": focus,
        "probabilities": probabilities,
        "chart": probability_chart(probabilities[0], probabilities[1]),
        "evidence_note": f"Overlays, heatmap and probabilities by the {evaluators.name} evaluators "
                         f"({'torchxrayvision' if evaluators.name == 'xrv' else 'trained on phantom ground truth'}). "
                         f"Heatmap: gradient saliency of '{focus}', the finding whose probability changed most.",
    }


def sweep(registry: Registry, upload, instruction, guidance_text, guidance_image, steps, seed, progress=None) -> dict:
    _check(upload, instruction)
    image, _ = read_image(upload)
    pipeline = registry.model.get()
    settings = _settings(steps, seed, guidance_text, guidance_image)
    prior = pipeline.load_prior(image)
    callback = (lambda step, total: progress(step / total, desc="sweeping severities")) if progress else None
    output = pipeline.sweep(prior, str(instruction).strip(), output_type="np", progress=False, callback=callback, **settings)
    before = prior[0, 0].numpy()
    frames = [to_pil(before), *[to_pil(i) for i in output.images]]
    folder = Path(tempfile.mkdtemp(prefix="medjourney-sweep-"))
    gif = save_gif(frames, ["prior", *SEVERITIES], folder / "journey.gif")
    result = {"gallery": [(np.asarray(f), caption) for f, caption in zip(frames, ["prior", *output.instructions])],
              "gif": str(gif), "instructions": output.instructions}
    try:
        evaluators = registry.evaluators()
        stack = torch.from_numpy(np.stack([before, *output.images]))[:, None].float()
        probabilities = evaluators.pathology(stack)
        result["chart"] = severity_chart(list(SEVERITIES), probabilities[1:], probabilities[0])
    except MedJourneyError:
        result["chart"] = None
    return result


def compare(registry: Registry, upload, instruction, impression, guidance_text, guidance_image, steps, seed) -> dict:
    """MedJourney, the text-only model (RoentGen setting) and InstructPix2Pix on the same input."""
    _check(upload, instruction)
    image, _ = read_image(upload)
    settings = _settings(steps, seed, guidance_text, guidance_image)
    pipeline = registry.model.get()
    prior = pipeline.load_prior(image)
    panels = {"prior": (prior[0, 0].numpy(), "prior")}
    out = pipeline(prior, str(instruction).strip(), output_type="np", progress=False, **settings)
    panels["medjourney"] = (out.images[0], f"MedJourney ({registry.settings.model.source})")
    text = str(impression).strip() if impression and str(impression).strip() else str(instruction).strip()
    try:
        text_only = registry.text_only.get()
        dummy = torch.full_like(prior, 128.0 / 255.0)
        panels["text-only"] = (text_only(dummy, text, output_type="np", progress=False, **settings).images[0],
                               f"Text only, RoentGen setting ({registry.settings.text_only.source})")
    except MedJourneyError as error:
        panels["text-only"] = (None, f"Text only: not available — {error}")
    try:
        ip2p = registry.ip2p()
        panels["ip2p"] = (ip2p.generate(prior, [str(instruction).strip()], [text], settings["seed"])[0], "InstructPix2Pix")
    except MedJourneyError as error:
        panels["ip2p"] = (None, str(error))
    return panels


def draft(registry: Registry, prior_report: str, current_report: str) -> tuple[str, str]:
    """(description, which drafter ran). Report text goes only to an LLM endpoint configured explicitly."""
    from medjourney_core.drafting import LLMConfig, LLMDrafter, RuleDrafter, check_endpoint

    if not (prior_report or "").strip() or not (current_report or "").strip():
        raise MedJourneyError("Paste both the prior and the current report.")
    llm = registry.settings.llm
    if llm:
        config = LLMConfig(provider=llm["provider"], model=llm["model"], base_url=llm["base_url"],
                           azure_endpoint=llm["azure_endpoint"], max_retries=1, timeout_s=30)
        check_endpoint(config, credentialed_data=True, allow_public=llm["allow_public"])
        result = LLMDrafter(config).draft(prior_report, current_report)
        where = config.base_url or config.azure_endpoint or "api.openai.com"
        return result.description, f"Drafted by {result.drafter} at {where}."
    result = RuleDrafter().draft(prior_report, current_report)
    return result.description, "Drafted by the offline rule-based drafter (no LLM endpoint is configured)."


def random_seed() -> int:
    return secrets.randbelow(2**31)


def _downloads(image: np.ndarray, record: dict) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="medjourney-"))
    png = save_png(to_pil(image), folder / "counterfactual.png", record)
    (folder / "provenance.json").write_text(json.dumps(record, indent=2) + "\n")
    return [str(png), str(folder / "provenance.json")]

