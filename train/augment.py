"""Augmentations that keep text and image consistent.

A horizontal flip puts the heart on the right: unless the text changes too, the model would learn
the wrong side. `swap_sides` exchanges left and right in a description ("left" <-> "right",
"L" <-> "R", "left-sided" <-> "right-sided"); "bilateral" needs no change.
"""

from __future__ import annotations

import re

import torch

_SIDE_WORDS = {"left": "right", "right": "left", "l": "r", "r": "l", "lt": "rt", "rt": "lt"}
_SIDE_RE = re.compile(r"\b(left|right|lt|rt|l|r)\b(?=(?:[-\s]+sided)?)", re.IGNORECASE)


def swap_sides(text: str) -> str:
    def replace(match: re.Match) -> str:
        word = match.group(1)
        if word.lower() in ("l", "r") and not _standalone_side_letter(text, match):
            return word
        swapped = _SIDE_WORDS[word.lower()]
        if word.isupper():
            return swapped.upper()
        if word[0].isupper():
            return swapped.capitalize()
        return swapped

    return _SIDE_RE.sub(replace, text)


def _standalone_side_letter(text: str, match: re.Match) -> bool:
    """'L' and 'R' are sides in "L pleural effusion" or "R-sided", not in "L5" or "R/O"."""
    after = text[match.end() : match.end() + 2]
    return not after.startswith(("/", "'")) and match.group(1).isupper()


def random_crop(latents: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Crop [B, C, H, W] latents to size x size at a random offset per sample."""
    _, _, height, width = latents.shape
    if height == size and width == size:
        return latents
    tops = torch.randint(0, height - size + 1, (latents.shape[0],), generator=generator)
    lefts = torch.randint(0, width - size + 1, (latents.shape[0],), generator=generator)
    return torch.stack([latents[i, :, t : t + size, l : l + size] for i, (t, l) in enumerate(zip(tops.tolist(), lefts.tolist()))])


def center_crop(latents: torch.Tensor, size: int) -> torch.Tensor:
    _, _, height, width = latents.shape
    top, left = (height - size) // 2, (width - size) // 2
    return latents[..., top : top + size, left : left + size]
