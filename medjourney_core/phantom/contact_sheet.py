"""A contact sheet of one exported journey: films, reports' impressions, true counterfactuals, masks.

    python -m medjourney_core.phantom.contact_sheet --export DIR [--subject ID] --out sheet.png
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from .render import STRUCTURES

COLORS = {"left_lung": (0.2, 0.6, 1.0), "right_lung": (0.2, 1.0, 0.4), "heart": (1.0, 0.3, 0.3),
          "mediastinum": (1.0, 0.8, 0.2), "spine": (0.8, 0.4, 1.0), "diaphragm": (1.0, 0.5, 0.0),
          "clavicles": (0.0, 1.0, 1.0)}


def overlay(film: np.ndarray, bits: np.ndarray) -> np.ndarray:
    rgb = np.repeat(film[..., None] / 255.0, 3, axis=-1)
    for index, name in enumerate(STRUCTURES):
        mask = ((bits >> index) & 1).astype(bool)
        rgb[mask] = 0.6 * rgb[mask] + 0.4 * np.array(COLORS[name])
    return rgb


def make_sheet(export_dir: Path, out: Path, subject: int | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    studies = [json.loads(line) for line in (export_dir / "ground_truth" / "studies.jsonl").read_text().splitlines()]
    pairs = [json.loads(line) for line in (export_dir / "ground_truth" / "pairs.jsonl").read_text().splitlines()]
    subject = subject or max({s["subject_id"] for s in studies},
                             key=lambda sid: sum(bool(p["changes"]) for p in pairs if p["subject_id"] == sid))
    journey = [s for s in studies if s["subject_id"] == subject]
    journey_pairs = {p["study_id"]: p for p in pairs if p["subject_id"] == subject}
    columns = len(journey)
    figure, axes = plt.subplots(3, columns, figsize=(3.1 * columns, 10.2), squeeze=False)
    for column, study in enumerate(journey):
        film = np.asarray(Image.open(export_dir / study["image"]).convert("L"))
        bits = np.asarray(Image.open(export_dir / study["mask"]))
        findings = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in study["state"].items()
                             if v and not k.endswith("_lobe")) or "no finding"
        axes[0, column].imshow(film, cmap="gray", vmin=0, vmax=255)
        axes[0, column].set_title(f"study {column + 1}\n" + textwrap.fill(findings, 34), fontsize=8)
        pair = journey_pairs.get(study["study_id"])
        if pair:
            truth = np.asarray(Image.open(export_dir / pair["counterfactual"]))
            axes[1, column].imshow(truth, cmap="gray", vmin=0, vmax=255)
            axes[1, column].set_title("true counterfactual from study "
                                      f"{column}:\n" + textwrap.fill(pair["description"], 38), fontsize=7)
        axes[2, column].imshow(overlay(film, bits))
        axes[2, column].set_title("anatomy masks", fontsize=8)
    for axis in axes.ravel():
        axis.axis("off")
    figure.suptitle(f"Phantom journey of subject {subject} (patient's left on the image's right)", fontsize=11)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, required=True)
    parser.add_argument("--subject", type=int, default=None, help="default: the journey with the most changes")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(f"wrote {make_sheet(args.export, args.out, args.subject)}")


if __name__ == "__main__":
    main()
