"""Training the small autoencoder (AutoencoderKL) that the phantom-trained MedJourney diffuses in.

    python -m train.vae --data PREP_DIR --output DIR [--max-steps N] [--resolution 256] [--crop 128]

Grayscale, 8x downsampling to 4 latent channels, trained on random crops (it is fully
convolutional, so it encodes whole films at the model resolution). Loss: L1 on pixels and on image gradients (keeps
edges sharp), plus a small KL term; after training, `scaling_factor` is set to 1 / std of the
latents (as Stable Diffusion's 0.18215), so diffusion sees unit-variance latents.
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
from diffusers import AutoencoderKL
from tqdm.auto import tqdm

from medjourney_core.errors import MedJourneyError
from medjourney_core.image_io import from_vae_range, prepare, read_image, to_vae_range

ARCHITECTURE = {
    "in_channels": 1, "out_channels": 1, "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 8,
    "block_out_channels": [16, 32, 64, 64],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
}


def load_images(data: Path, resolution: int, progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [json.loads(line) for line in (data / "singles.jsonl").read_text().splitlines()]
    if not rows:
        raise MedJourneyError(f"{data / 'singles.jsonl'} is empty.")
    images = [(prepare(read_image(r["image"])[0], resolution)[0] * 255).round().to(torch.uint8)
              for r in tqdm(rows, desc="loading films", disable=not progress)]
    split = [r["split"] for r in rows]
    stack = torch.stack(images)
    validation = torch.tensor([s == "validate" for s in split])
    return stack[~validation], stack[validation] if validation.any() else stack[-8:]


def gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def vae_loss(vae: AutoencoderKL, pixels: torch.Tensor, generator: torch.Generator, kl_weight: float) -> torch.Tensor:
    posterior = vae.encode(pixels).latent_dist
    latents = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator)
    reconstruction = vae.decode(latents).sample
    loss = F.l1_loss(reconstruction, pixels)
    for a, b in zip(gradients(reconstruction), gradients(pixels)):
        loss = loss + F.l1_loss(a, b)
    return loss + kl_weight * posterior.kl().mean()


def train(data: Path, output: Path, max_steps: int, resolution: int, batch_size: int, learning_rate: float,
          kl_weight: float, seed: int, progress: bool, crop: int = 128) -> Path:
    torch.manual_seed(seed)
    train_images, validation_images = load_images(data, resolution, progress)
    vae = AutoencoderKL(sample_size=resolution, **ARCHITECTURE)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    (output / "logs").mkdir(parents=True, exist_ok=True)
    log = open(output / "logs" / "loss.csv", "w")
    log.write("step,loss\n")
    bar = tqdm(range(max_steps), desc="vae", disable=not progress)
    start = time.perf_counter()
    for step in bar:
        index = torch.randint(0, len(train_images), (batch_size,), generator=generator)
        top, left = (int(v) for v in torch.randint(0, resolution - crop + 1, (2,), generator=generator))
        pixels = to_vae_range(train_images[index, :, top : top + crop, left : left + crop].float() / 255.0)
        loss = vae_loss(vae, pixels, generator, kl_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        log.write(f"{step + 1},{loss.item():.6f}\n")
        bar.set_postfix(loss=f"{loss.item():.4f}")
    log.close()
    vae.eval()
    with torch.no_grad():
        pixels = to_vae_range(validation_images[:32].float() / 255.0)
        latents = vae.encode(pixels).latent_dist.mean
        reconstruction = from_vae_range(vae.decode(latents).sample)
        mse = F.mse_loss(reconstruction, from_vae_range(pixels), reduction="none").mean(dim=(1, 2, 3))
        psnr = float((10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean())
        vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    final = output / "final"
    vae.save_pretrained(final)
    summary = {"steps": max_steps, "resolution": resolution, "validation_psnr_db": round(psnr, 2),
               "scaling_factor": vae.config.scaling_factor, "train_images": len(train_images),
               "seconds": round(time.perf_counter() - start, 1)}
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _grid(from_vae_range(pixels[:6]), reconstruction[:6], output / "reconstructions.png")
    print(json.dumps(summary))
    return final


def _grid(originals: torch.Tensor, reconstructions: torch.Tensor, path: Path) -> None:
    from PIL import Image

    top = np.concatenate(list(originals[:, 0].numpy()), axis=1)
    bottom = np.concatenate(list(reconstructions[:, 0].numpy()), axis=1)
    Image.fromarray((np.clip(np.concatenate([top, bottom]), 0, 1) * 255).astype(np.uint8)).save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.vae", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the output folder of `python -m train.prepare`")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--max-steps", type=int, default=1500)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--crop", type=int, default=128, help="training crop size (pixels)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--kl-weight", type=float, default=1e-6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        train(args.data, args.output, args.max_steps, args.resolution, args.batch_size, args.learning_rate,
              args.kl_weight, args.seed, not args.quiet, min(args.crop, args.resolution))
    except MedJourneyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
