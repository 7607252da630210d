"""Training pictures: the loss curve and validation sample grids."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np


def loss_curve(steps: list[int], losses: list[float], path: Path) -> Path | None:
    if not steps:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.plot(steps, losses, lw=0.8, alpha=0.5, label="loss")
    if len(losses) >= 10:
        window = max(5, len(losses) // 30)
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        axis.plot(steps[window - 1 :], smooth, lw=1.6, label=f"mean of {window}")
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_yscale("log")
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def sample_grid(records: list[dict], generated: list[np.ndarray], size: int, path: Path, title: str) -> Path:
    """Rows of (prior, description, generated, reference)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .encodings import DUMMY_PRIOR, load_pixels

    figure, axes = plt.subplots(len(records), 4, figsize=(10, 2.6 * len(records)), squeeze=False)
    for row, (record, image) in enumerate(zip(records, generated)):
        prior = load_pixels(record["prior"], size)[0, 0].numpy()
        reference = load_pixels(record["target"], size)[0, 0].numpy()
        axes[row, 0].imshow(prior, cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set_title("prior" if record["prior"] != DUMMY_PRIOR else "dummy prior", fontsize=8)
        axes[row, 1].text(0.0, 0.5, textwrap.fill(record["text"], 34), fontsize=7, va="center")
        axes[row, 2].imshow(image, cmap="gray", vmin=0, vmax=1)
        axes[row, 2].set_title("generated", fontsize=8)
        axes[row, 3].imshow(reference, cmap="gray", vmin=0, vmax=1)
        axes[row, 3].set_title("reference", fontsize=8)
        for axis in axes[row]:
            axis.axis("off")
    figure.suptitle(title + " — research use only, not for diagnosis", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
