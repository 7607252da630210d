"""Writing results with their provenance: PNGs carrying a JSON record, and animated journeys."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw, PngImagePlugin

from . import __version__
from .model_card import DISCLAIMER


def provenance(model_id: str, instruction: str, seed: int | None, steps: int, guidance_text: float,
               guidance_image: float, scheduler: str, trained: bool, severity: str | None = None,
               truncated: bool = False, strength: float = 1.0) -> dict:
    """The record that travels with every generated image (CLI, demo, evaluation)."""
    return {
        "model": model_id,
        "model_trained": trained,
        "instruction": instruction,
        "severity": severity,
        "instruction_truncated": truncated,
        "seed": seed,
        "steps": steps,
        "guidance_text": guidance_text,
        "guidance_image": guidance_image,
        "strength": strength,
        "scheduler": scheduler,
        "medjourney_version": __version__,
        "disclaimer": DISCLAIMER,
    }


def save_png(image: Image.Image, path: str | Path, record: dict) -> Path:
    """Save a PNG with the provenance record in its 'medjourney' text chunk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("medjourney", json.dumps(record))
    info.add_text("Disclaimer", DISCLAIMER)
    image.save(path, format="PNG", pnginfo=info)
    return path


def read_provenance(path: str | Path) -> dict:
    with Image.open(path) as image:
        return json.loads(image.text["medjourney"])


def labelled(image: Image.Image, label: str) -> Image.Image:
    """A copy of `image` with a caption strip underneath (for GIF frames and contact sheets)."""
    image = image.convert("L")
    strip = max(14, image.height // 16)
    canvas = Image.new("L", (image.width, image.height + strip), 0)
    canvas.paste(image, (0, 0))
    ImageDraw.Draw(canvas).text((4, image.height + 1), label, fill=255)
    return canvas


def save_strip(frames: list[Image.Image], labels: list[str], path: str | Path) -> Path:
    """The frames side by side, each captioned: a sweep at a glance (README figures, reports)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tiles = [labelled(frame, label) for frame, label in zip(frames, labels)]
    strip = Image.new("L", (sum(t.width for t in tiles), max(t.height for t in tiles)), 0)
    x = 0
    for tile in tiles:
        strip.paste(tile, (x, 0))
        x += tile.width
    strip.save(path)
    return path


def save_gif(frames: list[Image.Image], labels: list[str], path: str | Path, seconds_per_frame: float = 0.8) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tiles = [labelled(frame, label) for frame, label in zip(frames, labels)]
    tiles[0].save(path, save_all=True, append_images=tiles[1:], duration=int(seconds_per_frame * 1000), loop=0)
    return path
