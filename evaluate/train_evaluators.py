"""Training the phantom evaluators on phantom ground truth, on patients no generator trained on.

    python -m evaluate.train_evaluators [--out assets/evaluators/phantom] [--patients 400] [--seed 1000]
                                        [--steps 1500] [--segmenter-steps 400]

The patients are drawn with their own seed (the generators' exports use other seeds), rendered in
memory with random acquisitions, and labelled from the simulator's states (findings present at any
severity), invariants (sex proxy, age) and masks. Accuracy is then measured on held-out patients
drawn with yet another seed and printed: an evaluator that cannot see a finding cannot score a generator.
Training sees films at random exposure and random blur, because generated films come out of a VAE
softer than the renders: the evaluators should judge findings and anatomy, not sharpness.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm.auto import tqdm

from .evaluators import PHANTOM_DIR, STRUCTURES, PhantomClassifier, PhantomEvaluators, PhantomSegmenter
from .metrics import FINDINGS, auroc, dice, multiclass_auroc, pearson

RESOLUTION = PhantomEvaluators.resolution


def labels_of(state) -> list[float]:
    return [float(bool(state.atelectasis)), float(bool(state.cardiomegaly)), float(bool(state.edema)),
            float(bool(state.effusion_left or state.effusion_right)),
            float(bool(state.pneumothorax_left or state.pneumothorax_right))]


def make_set(simulator, patients: int, studies: int, seed: int, progress: bool) -> dict[str, torch.Tensor]:
    from medjourney_core.phantom.render import STRUCTURES as BITS

    films, masks, labels, sexes, ages = [], [], [], [], []
    for index in tqdm(range(patients), desc=f"rendering evaluator patients (seed {seed})", disable=not progress):
        patient, journey = simulator.sample(seed, index, studies)
        for study in journey:
            film, bits = simulator.render(patient, study, RESOLUTION)
            films.append(film)
            masks.append(np.stack([(bits >> BITS.index(s)) & 1 for s in STRUCTURES]).astype(bool))
            labels.append(labels_of(study.state))
            sexes.append(0 if patient.sex == "F" else 1)
            ages.append(patient.age)
    return {"films": torch.from_numpy(np.stack(films))[:, None], "masks": torch.from_numpy(np.stack(masks)),
            "labels": torch.tensor(labels), "sex": torch.tensor(sexes), "age": torch.tensor(ages, dtype=torch.float32)}


def augment(films: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random exposure (x 0.9-1.1) and, for half the films, the detail loss of a 2-4x down- and up-sampling."""
    n, size = len(films), films.shape[-1]
    films = films * (1 + 0.1 * torch.randn(n, 1, 1, 1, generator=generator))
    blurred = torch.rand(n, generator=generator) < 0.5
    if blurred.any():
        factor = float(torch.empty(1).uniform_(2.0, 4.0, generator=generator))
        small = F.interpolate(films[blurred], size=int(size / factor), mode="bilinear", antialias=True)
        films[blurred] = F.interpolate(small, size=size, mode="bilinear")
    return films.clamp(0, 1)


def train(out: Path, patients: int, studies: int, seed: int, steps: int, progress: bool,
          segmenter_steps: int | None = None) -> dict:
    """Train both evaluators and save them with a report of their accuracy on held-out patients.
    The segmenter converges well before the classifier; it trains for the first `segmenter_steps`."""
    from medjourney_core.phantom.simulator import PhantomSimulator

    torch.manual_seed(seed)
    simulator = PhantomSimulator()
    data = make_set(simulator, patients, studies, seed, progress)
    held_out = make_set(simulator, max(patients // 4, 20), studies, seed + 1, progress)
    classifier, segmenter = PhantomClassifier(), PhantomSegmenter()
    segmenter_steps = steps if segmenter_steps is None else max(1, min(segmenter_steps, steps))
    optimizers, schedules = [], []
    for model, total in ((classifier, steps), (segmenter, segmenter_steps)):
        optimizers.append(torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4))
        schedules.append(torch.optim.lr_scheduler.OneCycleLR(optimizers[-1], max_lr=2e-3, total_steps=total, pct_start=0.1))
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in tqdm(range(steps), desc="training evaluators", disable=not progress):
        index = torch.randint(0, len(data["films"]), (32,), generator=generator)
        films = augment(data["films"][index].clone(), generator)
        heads = classifier(films)
        loss = (F.binary_cross_entropy_with_logits(heads["pathology"], data["labels"][index])
                + F.cross_entropy(heads["sex"], data["sex"][index])
                + F.smooth_l1_loss(heads["age"], data["age"][index], beta=5.0) / 10)
        active = list(zip(optimizers, schedules))
        if step < segmenter_steps:
            loss = loss + F.binary_cross_entropy_with_logits(segmenter(films), data["masks"][index].float())
        else:
            active = active[:1]  # the classifier's alone
        for optimizer, _ in active:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for optimizer, schedule in active:
            optimizer.step()
            schedule.step()
    classifier.eval()
    segmenter.eval()
    out.mkdir(parents=True, exist_ok=True)
    save_file(classifier.state_dict(), out / "classifier.safetensors")
    save_file(segmenter.state_dict(), out / "segmenter.safetensors")
    report = measure(PhantomEvaluators(out), held_out)
    report.update({"train_patients": patients, "train_films": len(data["films"]), "held_out_films": len(held_out["films"]),
                   "train_seed": seed, "held_out_seed": seed + 1, "steps": steps, "segmenter_steps": segmenter_steps,
                   "seconds": round(time.perf_counter() - start, 1)})
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def measure(evaluators: PhantomEvaluators, held_out: dict) -> dict:
    films = held_out["films"]
    scores = np.concatenate([evaluators.pathology(films[i : i + 64]) for i in range(0, len(films), 64)])
    sex = np.concatenate([evaluators.race(films[i : i + 64]) for i in range(0, len(films), 64)])
    ages = np.concatenate([evaluators.age(films[i : i + 64]) for i in range(0, len(films), 64)])
    masks = np.concatenate([evaluators.segment(films[i : i + 64]) for i in range(0, len(films), 64)])
    labels = held_out["labels"].numpy()
    truth_masks = held_out["masks"].numpy()
    return {
        "pathology_auroc": {name: round(auroc(labels[:, k], scores[:, k]), 4) for k, name in enumerate(FINDINGS)},
        "sex_auroc": round(multiclass_auroc(held_out["sex"].numpy(), sex), 4),
        "age_pearson": round(pearson(held_out["age"].numpy(), ages), 4),
        "age_mae_years": round(float(np.abs(held_out["age"].numpy() - ages).mean()), 2),
        "dice": {name: round(float(np.mean([dice(m[k], t[k]) for m, t in zip(masks, truth_masks)])), 4)
                 for k, name in enumerate(STRUCTURES)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluate.train_evaluators", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PHANTOM_DIR)
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--studies", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1000, help="patients' seed; the held-out set uses seed + 1")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--segmenter-steps", type=int, default=400, help="the segmenter trains for the first N steps")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    report = train(args.out, args.patients, args.studies, args.seed, args.steps, not args.quiet, args.segmenter_steps)
    print("Phantom evaluators on held-out phantom patients:")
    print("  pathology AUROC: " + ", ".join(f"{k} {v:.3f}" for k, v in report["pathology_auroc"].items()))
    print(f"  sex-proxy AUROC (race slot): {report['sex_auroc']:.3f}")
    print(f"  age: Pearson {report['age_pearson']:.3f}, MAE {report['age_mae_years']:.1f} years")
    print("  anatomy Dice: " + ", ".join(f"{k} {v:.3f}" for k, v in report["dice"].items()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
