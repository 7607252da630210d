"""What the frozen encoders compute, computed once per dataset and reused by every epoch and stage.

- Images: the VAE's latent distribution (mean and log-variance, so that training still samples),
  encoded at resolution + crop margin, so that random-crop augmentation happens in latent space.
- Texts: the frozen text encoder's token states [L, H] (before the learnable projection).

Stored as float16 arrays under PREP_DIR/cache/encodings-<key>/, keyed by everything that changes
them (VAE weights, text encoder, sizes); memory-mapped when read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from medjourney_core.image_io import prepare, read_image, to_vae_range

DUMMY_PRIOR = "<dummy-gray-128>"  # stage 1's prior: a constant-128 gray image (paper 4.2)


def encoding_key(vae, text_spec, size: int, extra: str = "") -> str:
    digest = hashlib.sha256()
    for tensor in list(vae.state_dict().values())[:8] + list(vae.state_dict().values())[-8:]:
        digest.update(tensor.detach().float().cpu().numpy().tobytes()[:4096])
    digest.update(json.dumps([text_spec.kind, text_spec.source, text_spec.max_length, size, extra]).encode())
    return digest.hexdigest()[:16]


def load_pixels(path: str, size: int) -> torch.Tensor:
    """An image file (or the dummy prior) -> [1, 1, size, size] in [0, 1]."""
    if path == DUMMY_PRIOR:
        return torch.full((1, 1, size, size), 128.0 / 255.0)
    return prepare(read_image(path)[0], size)


class EncodedImages:
    def __init__(self, folder: Path):
        self.index = json.loads((folder / "images.json").read_text())
        self.array = np.load(folder / "images.npy", mmap_mode="r")  # [N, 2C, h, w]: mean then logvar

    def distribution(self, paths: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.array([self.index[p] for p in paths])
        values = torch.from_numpy(np.ascontiguousarray(self.array[rows])).float()
        mean, logvar = values.chunk(2, dim=1)
        return mean, logvar


class EncodedTexts:
    def __init__(self, folder: Path):
        self.index = json.loads((folder / "texts.json").read_text())
        self.array = np.load(folder / "texts.npy", mmap_mode="r")  # [T, L, H]

    def states(self, texts: list[str]) -> torch.Tensor:
        return torch.from_numpy(np.stack([self.array[self.index[t]] for t in texts])).float()


@torch.no_grad()
def build_image_cache(folder: Path, paths: list[str], vae, size: int, batch_size: int = 16, progress: bool = True) -> EncodedImages:
    """Encode the images not cached yet (all of them the first time) and merge them into the cache."""
    def encode(chunk: list[str]) -> np.ndarray:
        device = next(vae.parameters()).device
        pixels = to_vae_range(torch.cat([load_pixels(p, size) for p in chunk]))
        distribution = vae.encode(pixels.expand(-1, vae.config.in_channels, -1, -1).to(device)).latent_dist
        return torch.cat([distribution.mean, distribution.logvar], dim=1).half().cpu().numpy()

    _extend(folder, "images", paths, encode, batch_size, "caching VAE latents", progress)
    return EncodedImages(folder)


@torch.no_grad()
def build_text_cache(folder: Path, texts: list[str], text_encoder, batch_size: int = 64, progress: bool = True) -> EncodedTexts:
    def encode(chunk: list[str]) -> np.ndarray:
        return text_encoder(chunk).hidden_states.half().cpu().numpy()

    _extend(folder, "texts", texts, encode, batch_size, "caching text states", progress)
    return EncodedTexts(folder)


def _extend(folder: Path, name: str, keys: list[str], encode, batch_size: int, desc: str, progress: bool) -> None:
    index_path, array_path = folder / f"{name}.json", folder / f"{name}.npy"
    index = json.loads(index_path.read_text()) if index_path.is_file() and array_path.is_file() else {}
    missing = sorted(set(keys) - set(index))
    if not missing:
        return
    chunks = [encode(missing[start : start + batch_size])
              for start in tqdm(range(0, len(missing), batch_size), desc=desc, disable=not progress)]
    new = np.concatenate(chunks)
    merged = np.concatenate([np.load(array_path), new]) if index else new
    index.update({key: len(index) + i for i, key in enumerate(missing)})
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{name}.{os.getpid()}.tmp"
    staging.mkdir(exist_ok=True)
    np.save(staging / f"{name}.npy", merged)
    (staging / f"{name}.json").write_text(json.dumps(index))
    os.replace(staging / f"{name}.npy", array_path)
    os.replace(staging / f"{name}.json", index_path)  # the index last: it names only rows that exist
    shutil.rmtree(staging, ignore_errors=True)
