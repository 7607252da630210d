"""Evaluation of any checkpoint and the baselines (paper 4.3, 5.2-5.4, A.2), plus ground truth on the phantom.

    python -m evaluate.run --model CHECKPOINT --data PREP_DIR --split test \
        --systems medjourney,identity,text-only[,roentgen,sd,ip2p] --evaluators xrv|phantom --out DIR \
        [--limit N] [--seed S] [--text-only-model STAGE1] [--roentgen P] [--sd P] [--ip2p P] \
        [--ablation LABEL=CHECKPOINT ...] [--text-guidance G] [--image-guidance G] [--strength S]
        [--labels auto|reports|truth]

Pathology labels are the follow-up report's CheXpert labels (the paper's protocol; findings a report
does not mention are left out), or on the phantom the follow-up's true state (`--labels truth`, the
default where the phantom's ground truth is found): every finding is then known present or absent.

Writes metrics.csv, tables.md (the paper's Tables 1, 3 and 4, and ground-truth columns on the
phantom), roc_<finding>.png, table1.png and examples.png. Generated images are kept under
OUT/generated/<system>/, so an interrupted run resumes without regenerating them.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from medjourney_core.errors import MedJourneyError
from medjourney_core.image_io import prepare, read_image

from . import metrics
from .evaluators import load_evaluators
from .metrics import CMIG_NOTE, FINDINGS
from .systems import build_systems
from medjourney_core.cli import OneLineParser

SYSTEM_ORDER = ["sd", "ip2p", "roentgen", "text-only", "identity", "medjourney"]
TRUTH_FINDINGS = {"Atelectasis": ("atelectasis",), "Cardiomegaly": ("cardiomegaly",), "Edema": ("edema",),
                  "Pleural Effusion": ("effusion_left", "effusion_right"),
                  "Pneumothorax": ("pneumothorax_left", "pneumothorax_right")}


def truth_labels(pairs: list[dict], truth_dir: Path) -> None:
    """Replace each pair's report labels by the follow-up's true state (present at any severity)."""
    states = {}
    for line in (truth_dir / "studies.jsonl").read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            states[record["study_id"]] = record["state"]
    for pair in pairs:
        state = states[int(pair["study_id"])]
        pair["labels"] = {finding: float(any(state[key] for key in keys)) for finding, keys in TRUTH_FINDINGS.items()}


def system_order(names) -> list[str]:
    ablations = sorted(n for n in names if n.startswith("medjourney-"))
    return [s for s in SYSTEM_ORDER + ablations if s in names]


def load_pairs(data: Path, split: str, limit: int | None) -> tuple[list[dict], Path | None]:
    manifest = data / "triples.jsonl"
    if not manifest.is_file():
        raise MedJourneyError(f"{manifest} is missing: run `python -m train.prepare` first.")
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == split]
    if not rows:
        raise MedJourneyError(f"No {split} triples in {manifest}.")
    rows = rows[:limit] if limit else rows
    for row in rows:
        row["key"] = f"s{row['prior_study_id']}_s{row['study_id']}"
    source = json.loads((data / "prepare.json").read_text())["mimic_root"] if (data / "prepare.json").is_file() else None
    truth = Path(source) / "ground_truth" if source and (Path(source) / "ground_truth" / "pairs.jsonl").is_file() else None
    return rows, truth


def image(path: str, size: int) -> torch.Tensor:
    return prepare(read_image(path)[0], size)


def run(options) -> dict:
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs, truth_dir = load_pairs(Path(options.data), options.split, options.limit)
    labels = getattr(options, "labels", "auto")
    if labels == "truth" and truth_dir is None:
        raise MedJourneyError("--labels truth needs the phantom's ground truth next to the data (ground_truth/studies.jsonl).")
    options.labels = "truth" if labels == "truth" or (labels == "auto" and truth_dir is not None) else "reports"
    if options.labels == "truth":
        truth_labels(pairs, truth_dir)
    evaluators = load_evaluators(options.evaluators, options.device)
    systems, skipped = build_systems(options.systems, options)
    if not systems:
        raise MedJourneyError("None of the systems can run: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    size = options.resolution
    priors = torch.cat([image(p["prior_image"], size) for p in pairs])
    references = torch.cat([image(p["followup_image"], size) for p in pairs])

    generated = {}
    for system in systems:
        folder = out / "generated" / system.name
        folder.mkdir(parents=True, exist_ok=True)
        _check_settings(folder, system, options)
        todo = [i for i, p in enumerate(pairs) if not (folder / f"{p['key']}.png").is_file()]
        for start in tqdm(range(0, len(todo), options.batch_size), desc=f"generating: {system.name}",
                          disable=options.quiet):
            batch = todo[start : start + options.batch_size]
            images = system.generate(priors[batch], [pairs[i]["description"] for i in batch],
                                     [pairs[i]["impression"] for i in batch], options.seed)
            for i, picture in zip(batch, images):
                Image.fromarray(np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8)).save(folder / f"{pairs[i]['key']}.png")
        generated[system.name] = torch.cat([image(str(folder / f"{p['key']}.png"), size) for p in pairs])

    # What every system is compared with is computed once: the evaluators' view of the references,
    # and on the phantom the true counterfactuals and their change masks.
    reference = {"scores": _batched(evaluators.pathology, references), "masks": _batched(evaluators.segment, references)}
    truths = load_truths(pairs, truth_dir, size) if truth_dir is not None else None
    results = {name: score(evaluators, pairs, images, priors, reference, truths) for name, images in generated.items()}
    results["reference"] = score(evaluators, pairs, references, priors, reference, None)
    write_outputs(out, results, skipped, pairs, priors, references, generated, evaluators, options, truth_dir)
    return results


def _check_settings(folder: Path, system, options) -> None:
    """Resuming reuses generated images: refuse when they were made with other settings."""
    settings = {"checkpoint": str(getattr(system, "checkpoint", "")), "seed": options.seed,
                "steps": getattr(system, "steps", options.steps),
                "resolution": options.resolution, "text_guidance": getattr(system, "text_scale", None),
                "image_guidance": getattr(system, "image_scale", None), "strength": getattr(system, "strength", None)}
    record = folder / "settings.json"
    if record.is_file() and json.loads(record.read_text()) != settings:
        raise MedJourneyError(f"{folder} holds images generated with other settings ({record.read_text().strip()}); "
                              "use another --out or delete that folder.")
    record.write_text(json.dumps(settings) + "\n")


def _batched(function, images: torch.Tensor, size: int = 32) -> np.ndarray:
    return np.concatenate([function(images[i : i + size]) for i in range(0, len(images), size)])


def load_truths(pairs: list[dict], truth_dir: Path, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(true counterfactual, change mask) of each pair, from the phantom's ground truth; each pair also
    gets its list of true changes under "changes" (for the change-by-kind table)."""
    records = {(p["prior_study_id"], p["study_id"]): p
               for p in map(json.loads, (truth_dir / "pairs.jsonl").read_text().splitlines())}
    truths = []
    for pair in pairs:
        record = records[(pair["prior_study_id"], pair["study_id"])]
        truth = image(str(truth_dir.parent / record["counterfactual"]), size)[0, 0].numpy()
        changed = image(str(truth_dir.parent / record["change_mask"]), size)[0, 0].numpy() > 0.5
        truths.append((truth, changed))
        pair["changes"] = record.get("changes", [])
    return truths


def change_kind(change: dict) -> str:
    """'new effusion (left)', 'decreased edema', ... from one ground-truth change."""
    before, after = change["before"], change["after"]
    verb = "new" if before == 0 else "resolved" if after == 0 else "increased" if after > before else "decreased"
    side = _side(change)
    return f"{verb} {change['finding']}" + (f" ({side})" if side else "")


def _side(change: dict) -> str | None:
    first = str(change.get("where") or "").split()[:1]
    return first[0] if first in (["left"], ["right"]) else None


def by_change_kind(pairs, images, priors, truths) -> dict:
    """Change achieved per kind of change, over the pairs with exactly one change; for one-sided
    changes also how often the described side moved more (in the true direction) than its mirror."""
    groups: dict[str, dict[str, list]] = {}
    for index, ((truth, changed), pair) in enumerate(zip(truths, pairs)):
        if len(pair.get("changes", [])) != 1 or not changed.any():
            continue
        kind = change_kind(pair["changes"][0])
        prior, generated = priors[index, 0].numpy(), images[index, 0].numpy()
        group = groups.setdefault(kind, {"achieved": [], "side": []})
        group["achieved"].append(metrics.change_accuracy(prior, generated, truth, changed)["change_achieved"])
        if _side(pair["changes"][0]):
            mirror = changed[:, ::-1] & ~changed
            if mirror.any():
                direction = np.sign((truth - prior)[changed].mean())
                delta = generated - prior
                group["side"].append(float(direction * delta[changed].mean() > direction * delta[mirror].mean()))
    return {kind: {"n": len(g["achieved"]), "change_achieved": float(np.mean(g["achieved"])),
                   "described_side_ahead": float(np.mean(g["side"])) if g["side"] else float("nan")}
            for kind, g in sorted(groups.items())}


def score(evaluators, pairs, images, priors, reference: dict, truths) -> dict:
    scores = _batched(evaluators.pathology, images)
    labels = np.array([[_label(p["labels"].get(f)) for f in FINDINGS] for p in pairs], dtype=np.float64)
    result = {"scores": scores, "labels": labels}
    result["pathology"] = metrics.pathology_auroc(labels, scores)
    race_labels = np.array([evaluators.race_classes.index(p["gender"]) if evaluators.name == "phantom" and p.get("gender")
                            in evaluators.race_classes else (evaluators.race_classes.index(p["race"]) if p.get("race")
                            in evaluators.race_classes else -1) for p in pairs])
    race = _batched(evaluators.race, images)
    known = race_labels >= 0
    result["race_auroc"] = metrics.multiclass_auroc(race_labels[known], race[known]) if known.any() else float("nan")
    ages = np.array([float(p["age"]) if p.get("age") is not None else np.nan for p in pairs])
    predicted_ages = _batched(evaluators.age, images)
    has_age = ~np.isnan(ages)
    result["age_pearson"] = metrics.pearson(ages[has_age], predicted_ages[has_age])
    accuracy = [100 * result["pathology"]["Mean"]]
    retention = [100 * v for v in (result["race_auroc"], result["age_pearson"]) if not math.isnan(v)]
    result["cmig"] = metrics.cmig(accuracy, retention) if retention else float("nan")
    result["kl"] = metrics.score_distribution_kl(reference["scores"], scores)
    result["dice"] = metrics.anatomy_dice(_batched(evaluators.segment, images), reference["masks"], evaluators.structures)
    if truths is not None:
        psnrs, ssims, achieved, spurious, inside = [], [], [], [], []
        for index, (truth, changed) in enumerate(truths):
            generated = images[index, 0].numpy()
            prior = priors[index, 0].numpy()
            psnrs.append(metrics.psnr(generated, truth))
            ssims.append(metrics.ssim(generated, truth))
            if changed.any():
                change = metrics.change_accuracy(prior, generated, truth, changed)
                achieved.append(change["change_achieved"])
                inside.append(change["change_inside"])
            spurious.append(float(np.abs(generated - prior)[~changed].mean()))
        result["by_kind"] = by_change_kind(pairs, images, priors, truths)
        result["truth"] = {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)),
                           "change_achieved": float(np.mean(achieved)) if achieved else float("nan"),
                           "change_inside": float(np.mean(inside)) if inside else float("nan"),
                           "spurious_outside": float(np.mean(spurious))}
    return result


def _label(value) -> float:
    return float("nan") if value is None else float(value)


# ------------------------------------------------------------------ outputs


def write_outputs(out, results, skipped, pairs, priors, references, generated, evaluators, options, truth_dir) -> None:
    order = system_order(results) + ["reference"]
    rows = []
    for name in order:
        r = results[name]
        for finding in FINDINGS + ["Mean"]:
            rows.append((name, f"pathology_auroc/{finding}", r["pathology"][finding]))
            rows.append((name, f"kl/{finding}", r["kl"][finding]))
        rows += [(name, "race_auroc", r["race_auroc"]), (name, "age_pearson", r["age_pearson"]), (name, "cmig", r["cmig"])]
        rows += [(name, f"dice/{k}", v) for k, v in r["dice"].items()]
        rows += [(name, f"truth/{k}", v) for k, v in r.get("truth", {}).items()]
        rows += [(name, f"by_kind/{kind}/{k}", v) for kind, values in r.get("by_kind", {}).items() for k, v in values.items()]
    with open(out / "metrics.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["system", "metric", "value"])
        writer.writerows((s, m, f"{v:.6f}") for s, m, v in rows)

    pct = lambda v: "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"  # noqa: E731
    race_name = "Sex-proxy AUC (race slot)" if evaluators.name == "phantom" else "Race AUC"
    label_source = ("the follow-up's true state (phantom ground truth)" if getattr(options, "labels", "reports") == "truth"
                    else "the follow-up report's CheXpert labels (unmentioned findings left out)")
    guidance = [f"{name} {value}" for name, value in (("text", getattr(options, "text_guidance", None)),
                                                      ("image", getattr(options, "image_guidance", None)),
                                                      ("strength", getattr(options, "strength", None))) if value is not None]
    lines = [f"# Evaluation: {len(pairs)} {options.split} pairs, evaluators: {evaluators.name}", "",
             f"Pathology labels: {label_source}. Seed {options.seed}; MedJourney guidance: "
             + (", ".join(guidance) if guidance else "each checkpoint's defaults") + ".", ""]
    if skipped:
        lines += ["Not run: " + "; ".join(f"**{k}** ({v})" for k, v in skipped.items()), ""]
    lines += ["## Table 1: counterfactual generation", "", f"| System | Pathology AUC | {race_name} | Age Pearson | CMIG |",
              "|---|---|---|---|---|"]
    for name in order:
        r = results[name]
        cmig = "n/a" if math.isnan(r["cmig"]) else f"{r['cmig']:.2f}"
        lines.append(f"| {name} | {pct(r['pathology']['Mean'])} | {pct(r['race_auroc'])} | {pct(r['age_pearson'])} | {cmig} |")
    lines += ["", f"Note: {CMIG_NOTE}", "", "## Table 3: pathology AUROC per finding and KL divergence", "",
              "| System | " + " | ".join(FINDINGS) + " | Mean | KL (x100) |", "|---" * (len(FINDINGS) + 3) + "|"]
    for name in order:
        r = results[name]
        lines.append(f"| {name} | " + " | ".join(pct(r["pathology"][f]) for f in FINDINGS)
                     + f" | {pct(r['pathology']['Mean'])} | {100 * r['kl']['Mean']:.2f} |")
    lines += ["", "## Table 4: anatomy Dice against the reference's segmentation", "",
              "| System | " + " | ".join(evaluators.structures) + " | Mean |", "|---" * (len(evaluators.structures) + 2) + "|"]
    for name in order:
        r = results[name]
        lines.append(f"| {name} | " + " | ".join(pct(r["dice"][s]) for s in evaluators.structures) + f" | {pct(r['dice']['Mean'])} |")
    if truth_dir is not None:
        lines += ["", "## Against the true counterfactual (phantom ground truth)", "",
                  "| System | PSNR (dB) | SSIM | Change achieved | Change inside | Spurious change outside |", "|---|---|---|---|---|---|"]
        for name in order:
            t = results[name].get("truth")
            if t:
                lines.append(f"| {name} | {t['psnr']:.2f} | {t['ssim']:.4f} | {t['change_achieved']:.3f} | "
                             f"{t['change_inside']:.4f} | {t['spurious_outside']:.4f} |")
        lines += ["", "Change achieved: projection of the generated change onto the true change inside the changed "
                  "region (1 = the whole described change, 0 = none). Spurious change: mean |generated - prior| "
                  "outside it (0 = the rest of the patient untouched)."]
        with_kinds = [name for name in order if results[name].get("by_kind")]
        kinds = sorted({k for name in with_kinds for k in results[name]["by_kind"]},
                       key=lambda k: (-results[with_kinds[0]]["by_kind"].get(k, {"n": 0})["n"], k))
        lines += ["", "## Change achieved by kind of change (pairs with exactly one change)", ""]
        if not kinds:
            lines += ["No pair has exactly one change."]
        else:
            lines += ["Each cell: change achieved; for one-sided changes also the share of pairs where the described "
                      "side moved more, in the true direction, than the same region mirrored to the other side.", "",
                      "| Change | Pairs | " + " | ".join(with_kinds) + " |", "|---" * (len(with_kinds) + 2) + "|"]
            for kind in kinds:
                cells = []
                for name in with_kinds:
                    v = results[name]["by_kind"].get(kind)
                    cells.append("" if v is None else f"{v['change_achieved']:.2f}" + (
                        "" if math.isnan(v["described_side_ahead"]) else f"; side {100 * v['described_side_ahead']:.0f} %"))
                n = results[with_kinds[0]]["by_kind"].get(kind, {"n": 0})["n"]
                lines.append(f"| {kind} | {n} | " + " | ".join(cells) + " |")
    (out / "tables.md").write_text("\n".join(lines) + "\n")
    _plots(out, results, order, pairs, priors, references, generated)


def _plots(out, results, order, pairs, priors, references, generated) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for index, finding in enumerate(FINDINGS):
        figure, axis = plt.subplots(figsize=(4, 4))
        for name in order:
            r = results[name]
            keep = np.isin(r["labels"][:, index], (0.0, 1.0))
            if keep.any() and len(set(r["labels"][keep, index])) == 2:
                fpr, tpr = metrics.roc_curve(r["labels"][keep, index], r["scores"][keep, index])
                axis.plot(fpr, tpr, label=f"{name} ({100 * r['pathology'][finding]:.1f})")
        axis.plot([0, 1], [0, 1], "k:", lw=0.8)
        axis.set_title(f"{finding}")
        axis.set_xlabel("false positive rate")
        axis.set_ylabel("true positive rate")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
        figure.tight_layout()
        figure.savefig(out / f"roc_{finding.lower().replace(' ', '_')}.png", dpi=100)
        plt.close(figure)

    figure, axis = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(order)
    labels = ["Pathology AUC", "Retention (race slot)", "Age Pearson", "CMIG"]
    for k, name in enumerate(order):
        r = results[name]
        values = [100 * r["pathology"]["Mean"], 100 * r["race_auroc"], 100 * r["age_pearson"], r["cmig"]]
        axis.bar(np.arange(4) + k * width, [0 if math.isnan(v) else v for v in values], width, label=name)
    axis.set_xticks(np.arange(4) + width * (len(order) - 1) / 2, labels)
    axis.set_ylim(0, 105)
    axis.legend(fontsize=7, ncol=3)
    axis.set_title("Table 1 (CMIG as the paper's formula; see tables.md)", fontsize=9)
    figure.tight_layout()
    figure.savefig(out / "table1.png", dpi=100)
    plt.close(figure)

    shown = list(range(min(6, len(pairs))))
    columns = ["prior", "description"] + list(generated) + ["reference"]
    figure, axes = plt.subplots(len(shown), len(columns), figsize=(2.1 * len(columns), 2.3 * len(shown)), squeeze=False)
    for row, index in enumerate(shown):
        pictures = [priors[index, 0]] + [None] + [g[index, 0] for g in generated.values()] + [references[index, 0]]
        for column, (title, picture) in enumerate(zip(columns, pictures)):
            axis = axes[row, column]
            axis.axis("off")
            if picture is None:
                axis.text(0, 0.5, textwrap.fill(pairs[index]["description"], 26), fontsize=6.5, va="center")
            else:
                axis.imshow(picture.numpy(), cmap="gray", vmin=0, vmax=1)
            if row == 0:
                axis.set_title(title, fontsize=8)
    figure.suptitle("Research use only, not for diagnosis", fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "examples.png", dpi=90)
    plt.close(figure)



def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m evaluate.run", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="the MedJourney checkpoint")
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--split", default="test", choices=["train", "validate", "test"])
    parser.add_argument("--systems", default="medjourney,identity,text-only")
    parser.add_argument("--evaluators", required=True, choices=["xrv", "phantom"])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: each checkpoint's)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--text-only-model", default=None, help="a stage-1 checkpoint (the RoentGen setting)")
    parser.add_argument("--roentgen", default=None)
    parser.add_argument("--sd", default=None)
    parser.add_argument("--ip2p", default=None)
    parser.add_argument("--ablation", action="append", default=[], metavar="LABEL=CHECKPOINT",
                        help="another MedJourney checkpoint, scored as medjourney-LABEL (repeatable)")
    parser.add_argument("--text-guidance", type=float, default=None, help="MedJourney's text guidance (default: the checkpoint's)")
    parser.add_argument("--image-guidance", type=float, default=None, help="MedJourney's image guidance (default: the checkpoint's)")
    parser.add_argument("--strength", type=float, default=None,
                        help="MedJourney's sampling strength, 1 = from pure noise (default: the checkpoint's)")
    parser.add_argument("--labels", default="auto", choices=["auto", "reports", "truth"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    args.ablations = []
    for item in args.ablation:
        label, _, checkpoint = item.partition("=")
        if not label or not checkpoint or not label.replace("-", "").isalnum():
            parser.error(f"--ablation wants LABEL=CHECKPOINT with a label of letters, digits and dashes, not {item!r}")
        args.ablations.append((label, checkpoint))
    try:
        run(args)
    except MedJourneyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print((args.out / "tables.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
