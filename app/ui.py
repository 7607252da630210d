"""The Gradio Blocks page. Layout and wiring only: every action is a function of app/handlers.py."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from medjourney_core import MedJourneyError
from medjourney_core.model_card import DISCLAIMER
from medjourney_core.severity import SEVERITIES

from . import handlers
from .models import ASSETS, Registry

EXAMPLES = ASSETS / "examples"
UPLOAD_TYPES = [".png", ".jpg", ".jpeg", ".dcm", ".dicom"]
TIP_TEXT = "How strongly to follow the description. Higher: a more pronounced change (and more artefacts)."
TIP_IMAGE = "How strongly to keep the prior. Higher: more of the patient preserved, a subtler change."


def _errors(function):
    """Readable messages for the user; the server keeps serving."""
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except MedJourneyError as error:
            raise gr.Error(str(error)) from None
        except ValueError as error:
            raise gr.Error(f"Invalid input: {error}") from None
    wrapped.__name__ = function.__name__
    return wrapped


def _gpu(function):
    """ZeroGPU on a Hugging Face Space when the `spaces` package is present; a no-op elsewhere."""
    try:
        import spaces
    except ImportError:
        return function
    return spaces.GPU(function)


def examples() -> list[list[str]]:
    index = EXAMPLES / "examples.json"
    if not index.is_file():
        return []
    return [[str(EXAMPLES / e["image"]), e["instruction"]] for e in json.loads(index.read_text())]


def model_card(registry: Registry) -> str:
    source = registry.settings.model.source
    card = Path(source) / "README.md" if source and Path(source).is_dir() else None
    text = card.read_text().split("---", 2)[-1] if card and card.is_file() else "No model card available for this model."
    return (f"## Intended use\n\nA research demonstration of counterfactual chest X-ray generation. "
            f"**{DISCLAIMER}** Outputs are synthetic images, not predictions about any patient.\n\n"
            f"## Loaded model\n\n{text}")


def build_demo(registry: Registry) -> gr.Blocks:
    ready, status = registry.model.describe()
    defaults = _defaults(registry) if ready else {"steps": 20, "text": 7.5, "image": 1.5}
    with gr.Blocks(title="MedJourney", delete_cache=(3600, 7200), analytics_enabled=False) as demo:
        gr.Markdown(f"# MedJourney: counterfactual chest X-rays\n**{DISCLAIMER}**")
        gr.Markdown(("Model: " if ready else "") + status, elem_id="model-status")

        with gr.Tab("Counterfactual"):
            with gr.Row():
                with gr.Column(scale=1):
                    upload = gr.File(label="Prior chest X-ray (PNG, JPEG or DICOM)", file_types=UPLOAD_TYPES,
                                     type="filepath", elem_id="upload")
                    instruction = gr.Textbox(label="Progression description", lines=2, elem_id="instruction",
                                             placeholder="new moderate right pleural effusion")
                    if examples():
                        gr.Examples(examples(), [upload, instruction], label="Examples (phantom priors)")
                    with gr.Accordion("Draft from reports", open=False):
                        prior_report = gr.Textbox(label="Prior report", lines=4)
                        current_report = gr.Textbox(label="Current report", lines=4)
                        draft_button = gr.Button("Draft")
                        drafter_note = gr.Markdown()
                    severity = gr.Radio(["as written", *SEVERITIES], value="as written", label="Severity")
                    guidance_text = gr.Slider(0, 15, value=defaults["text"], step=0.5, label="Text guidance", info=TIP_TEXT)
                    guidance_image = gr.Slider(0, 5, value=defaults["image"], step=0.1, label="Image guidance", info=TIP_IMAGE)
                    steps = gr.Slider(1, handlers.MAX_STEPS, value=defaults["steps"], step=1, label="Steps")
                    with gr.Row():
                        seed = gr.Number(value=0, precision=0, label="Seed")
                        randomize = gr.Button("Randomize seed", size="sm")
                    button = gr.Button("Generate", variant="primary", interactive=ready, elem_id="generate")
                with gr.Column(scale=2):
                    slider = gr.ImageSlider(label=f"Prior | counterfactual — {DISCLAIMER}", type="numpy",
                                            elem_id="result", image_mode="L")
                    effective = gr.Markdown()
                    with gr.Row():
                        difference = gr.Image(label="Difference (red: denser, blue: more lucent)", type="numpy", height=280)
                        heatmap = gr.Image(label="Pathology heatmap", type="numpy", height=280)
                    with gr.Row():
                        overlay_prior = gr.Image(label="Anatomy, prior", type="numpy", height=280)
                        overlay_cf = gr.Image(label="Anatomy, counterfactual", type="numpy", height=280)
                    chart = gr.Plot(label="Finding probability, before and after")
                    evidence_note = gr.Markdown()
                    files = gr.File(label="Download: PNG with provenance, and provenance.json", file_count="multiple")
                    record = gr.Code(label="Provenance", language="json")

        with gr.Tab("Journey"):
            gr.Markdown("The same description at every severity, generated together from the same noise.")
            sweep_button = gr.Button("Generate severity sweep", variant="primary", interactive=ready, elem_id="sweep")
            gallery = gr.Gallery(label=f"Severity sweep — {DISCLAIMER}", columns=4, height=320)
            with gr.Row():
                gif = gr.Image(label="Journey (animated)", type="filepath")
                sweep_chart = gr.Plot(label="Finding probability per severity")

        with gr.Tab("Compare"):
            gr.Markdown("The same prior and description through MedJourney and the comparison systems. "
                        "Text-only systems (the RoentGen setting) see only the report text.")
            impression = gr.Textbox(label="Reference impression for the text-only system (default: the description)")
            compare_button = gr.Button("Compare", variant="primary", interactive=ready)
            with gr.Row():
                compare_images = [gr.Image(label=name, type="numpy") for name in ("prior", "MedJourney", "Text only", "InstructPix2Pix")]
            compare_notes = gr.Markdown()

        with gr.Tab("About"):
            gr.Markdown(model_card(registry))

        def run_generate(upload, instruction, severity, guidance_text, guidance_image, steps, seed,
                         progress=gr.Progress()):
            out = handlers.generate(registry, upload, instruction, severity, guidance_text, guidance_image, steps, seed,
                                    progress)
            note = f"Generated from: *{out['instruction']}*" + (" (truncated to the encoder's context)" if out["truncated"] else "")
            return ((out["prior"], out["counterfactual"]), note, out["difference"], out.get("heatmap"),
                    out.get("overlay_prior"), out.get("overlay_counterfactual"), out.get("chart"),
                    out["evidence_note"], out["files"], json.dumps(out["provenance"], indent=2))

        def run_sweep(upload, instruction, guidance_text, guidance_image, steps, seed, progress=gr.Progress()):
            out = handlers.sweep(registry, upload, instruction, guidance_text, guidance_image, steps, seed, progress)
            return out["gallery"], out["gif"], out["chart"]

        def run_compare(upload, instruction, impression, guidance_text, guidance_image, steps, seed):
            panels = handlers.compare(registry, upload, instruction, impression, guidance_text, guidance_image, steps, seed)
            notes = "\n".join(f"- **{key}**: {caption}" for key, (_, caption) in panels.items())
            return [panels[k][0] for k in ("prior", "medjourney", "text-only", "ip2p")] + [notes]

        def run_draft(prior_text, current_text):
            return handlers.draft(registry, prior_text, current_text)

        button.click(_gpu(_errors(run_generate)),
                     [upload, instruction, severity, guidance_text, guidance_image, steps, seed],
                     [slider, effective, difference, heatmap, overlay_prior, overlay_cf, chart, evidence_note, files, record],
                     api_name="generate")
        sweep_button.click(_gpu(_errors(run_sweep)), [upload, instruction, guidance_text, guidance_image, steps, seed],
                           [gallery, gif, sweep_chart], api_name="sweep")
        compare_button.click(_gpu(_errors(run_compare)),
                             [upload, instruction, impression, guidance_text, guidance_image, steps, seed],
                             [*compare_images, compare_notes], api_name="compare")
        draft_button.click(_errors(run_draft), [prior_report, current_report], [instruction, drafter_note], api_name="draft")
        randomize.click(handlers.random_seed, None, seed, api_name=False)
    return demo


def _defaults(registry: Registry) -> dict:
    from medjourney_core import MedJourneyConfig

    source = registry.settings.model.source
    if source and Path(source).is_dir():
        config = MedJourneyConfig.load(source)
        return {"steps": config.default_steps, "text": config.default_guidance_text, "image": config.default_guidance_image}
    return {"steps": 20, "text": 7.5, "image": 1.5}
