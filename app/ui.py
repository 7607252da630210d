"""The Gradio Blocks page: upload a prior, describe a change, see the counterfactual."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np

from medjourney_core import SEVERITIES, MedJourneyError, read_image
from medjourney_core.export import provenance
from medjourney_core.image_io import to_pil
from medjourney_core.model_card import DISCLAIMER

from .models import ModelRegistry

MAX_UPLOAD = "50mb"


def generate(registry: ModelRegistry, upload, instruction, severity, guidance_text, guidance_image, steps, seed,
             progress=gr.Progress()):
    """One counterfactual: returns (prior, counterfactual, difference map, provenance JSON)."""
    if upload is None:
        raise gr.Error("Upload a chest X-ray (PNG, JPEG or DICOM) first.")
    if not instruction or not instruction.strip():
        raise gr.Error("Describe the change, e.g. 'new moderate right pleural effusion'.")
    try:
        image, _ = read_image(upload)
        pipeline = registry.pipeline()
        prior = pipeline.load_prior(image)
        output = pipeline(
            prior, instruction.strip(), severity=None if severity == "as written" else severity,
            num_inference_steps=int(steps), guidance_scale=float(guidance_text),
            image_guidance_scale=float(guidance_image), seed=int(seed), output_type="np", progress=False,
            callback=lambda step, total: progress(step / total, desc="denoising"),
        )
    except MedJourneyError as error:
        raise gr.Error(str(error)) from None
    before = prior[0, 0].numpy()
    after = output.images[0]
    record = provenance(
        model_id=str(registry.choice.source), instruction=output.instructions[0], seed=int(seed), steps=int(steps),
        guidance_text=float(guidance_text), guidance_image=float(guidance_image),
        scheduler=pipeline.config.default_scheduler, trained=pipeline.config.trained,
        severity=None if severity == "as written" else severity, truncated=output.truncated[0],
    )
    return to_pil(before), to_pil(after), difference_map(before, after), json.dumps(record, indent=2)


def difference_map(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Signed change as RGB: red where the follow-up is brighter (denser), blue where darker."""
    delta = np.clip((after - before) * 4.0, -1.0, 1.0)
    base = np.clip(before * 0.6, 0, 1)
    rgb = np.stack([base, base, base], axis=-1)
    rgb[..., 0] += np.clip(delta, 0, 1)
    rgb[..., 2] += np.clip(-delta, 0, 1)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def build_demo(registry: ModelRegistry) -> gr.Blocks:
    with gr.Blocks(title="MedJourney") as demo:
        gr.Markdown(f"# MedJourney: counterfactual chest X-rays\n**{DISCLAIMER}**")
        ready, status = registry.describe()
        gr.Markdown(status)
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Prior chest X-ray (PNG, JPEG, DICOM)", file_types=[".png", ".jpg", ".jpeg", ".dcm"],
                                 type="filepath")
                instruction = gr.Textbox(label="Progression description", placeholder="new moderate right pleural effusion")
                severity = gr.Radio(["as written", *SEVERITIES], value="as written", label="Severity")
                guidance_text = gr.Slider(0, 15, value=7.5, step=0.5, label="Text guidance",
                                          info="Higher follows the description more strongly.")
                guidance_image = gr.Slider(0, 5, value=1.5, step=0.1, label="Image guidance",
                                           info="Higher keeps more of the prior image.")
                steps = gr.Slider(1, 100, value=20, step=1, label="Steps")
                seed = gr.Number(value=0, precision=0, label="Seed")
                button = gr.Button("Generate", variant="primary", interactive=ready)
            with gr.Column():
                prior_view = gr.Image(label=f"Prior — {DISCLAIMER}", type="pil")
                counterfactual = gr.Image(label=f"Counterfactual — {DISCLAIMER}", type="pil")
                difference = gr.Image(label="Difference (red: denser, blue: more lucent)")
                record = gr.Code(label="Provenance", language="json")
        button.click(
            lambda *args: generate(registry, *args),
            [upload, instruction, severity, guidance_text, guidance_image, steps, seed],
            [prior_view, counterfactual, difference, record],
            api_name="generate",
        )
    return demo
