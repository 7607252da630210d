"""Pictures that explain a counterfactual: difference maps, anatomy overlays, saliency heatmaps and
probability charts. Each takes images [H, W] in [0, 1] and returns RGB uint8 arrays or figures.

An `evaluator` is anything with `pathology(x)`, `pathology_tensor(x)` (differentiable) and
`segment(x)` on images [N, 1, H, W] (see evaluate/evaluators.py).
"""

from __future__ import annotations

import numpy as np
import torch

FINDINGS = ["Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion", "Pneumothorax"]
COLORS = {"left_lung": (66, 135, 245), "right_lung": (60, 200, 100), "heart": (235, 64, 52),
          "mediastinum": (245, 200, 40), "spine": (180, 90, 240), "diaphragm": (255, 140, 0)}


def difference_map(before: np.ndarray, after: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """Signed change over a dimmed prior: red where the follow-up is denser (brighter), blue where more lucent."""
    delta = np.clip((after - before) * gain, -1.0, 1.0)
    base = np.clip(before * 0.6, 0, 1)
    rgb = np.stack([base, base, base], axis=-1)
    rgb[..., 0] += np.clip(delta, 0, 1)
    rgb[..., 2] += np.clip(-delta, 0, 1)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def overlay(image: np.ndarray, masks: np.ndarray, names: list[str], alpha: float = 0.35) -> np.ndarray:
    """Structure masks [S, H, W] tinted over the image, with a one-pixel outline."""
    from scipy import ndimage

    rgb = np.repeat(np.clip(image, 0, 1)[..., None], 3, axis=-1)
    for mask, name in zip(masks, names):
        color = np.array(COLORS.get(name, (255, 255, 255))) / 255.0
        mask = mask.astype(bool)
        rgb[mask] = (1 - alpha) * rgb[mask] + alpha * color
        edge = mask & ~ndimage.binary_erosion(mask)
        rgb[edge] = color
    return (rgb * 255).astype(np.uint8)


def saliency(evaluator, image: np.ndarray, finding: str, smooth: float = 3.0) -> np.ndarray:
    """Gradient saliency of one finding's score: |d score / d pixel|, smoothed, as a heat overlay."""
    from scipy import ndimage

    x = torch.tensor(image, dtype=torch.float32)[None, None].requires_grad_(True)
    score = evaluator.pathology_tensor(x)[0, FINDINGS.index(finding)]
    (gradient,) = torch.autograd.grad(score, x)
    heat = ndimage.gaussian_filter(gradient[0, 0].abs().numpy(), smooth)
    heat = heat / (heat.max() + 1e-12)
    rgb = np.repeat(np.clip(image, 0, 1)[..., None], 3, axis=-1) * 0.7
    rgb[..., 0] = np.clip(rgb[..., 0] + heat, 0, 1)
    rgb[..., 1] = np.clip(rgb[..., 1] + 0.5 * heat**2, 0, 1)
    return (rgb * 255).astype(np.uint8)


def probability_chart(before: np.ndarray, after: np.ndarray, title: str = "Finding probability"):
    """A grouped bar chart of the five findings' probabilities on the prior and the counterfactual."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 2.8))
    positions = np.arange(len(FINDINGS))
    axis.bar(positions - 0.2, before, 0.4, label="prior", color="#888888")
    axis.bar(positions + 0.2, after, 0.4, label="counterfactual", color="#d9534f")
    axis.set_xticks(positions, [f.replace("Pleural ", "") for f in FINDINGS], fontsize=8)
    axis.set_ylim(0, 1)
    axis.set_ylabel("probability")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def severity_chart(severities: list[str], probabilities: np.ndarray, prior: np.ndarray):
    """The five findings' probabilities across a severity sweep (prior first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 2.8))
    steps = ["prior", *severities]
    for index, finding in enumerate(FINDINGS):
        axis.plot(steps, [prior[index], *probabilities[:, index]], marker="o", label=finding)
    axis.set_ylim(0, 1)
    axis.set_ylabel("probability")
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    return figure
