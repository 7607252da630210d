"""The two-stage curriculum (paper 4.2, 5.1) on accelerate: one CPU, one GPU, or many.

    python -m train.fit --data PREP_DIR --stage 1|2|single --output DIR [--config FILE]
                        [--init CHECKPOINT] [--max-steps N] [--resume latest]

Stage 1 trains on single image-report pairs with the dummy prior (the latent of a constant-128
gray image); stage 2 continues from stage 1 (--init) on (prior, description, follow-up) triples;
`single` trains on triples from the start (the paper's one-stage ablation). Multi-GPU and
multi-node runs use `accelerate launch` (train/configs/accelerate-8gpu.yaml).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from medjourney_core.errors import MedJourneyError

from . import checkpoints
from .augment import random_crop, swap_sides
from .config import TrainConfig
from .encodings import (DUMMY_PRIOR, build_image_cache, build_text_cache,
                        encoding_key, load_pixels)
from .model import build
from medjourney_core.cli import OneLineParser

STAGES = ("1", "2", "single")


# ------------------------------------------------------------------ data


def load_records(data: Path, stage: str, text_field: str = "description") -> tuple[list[dict], list[dict]]:
    """(training records, validation records): each {prior, target, text}."""
    manifest = data / ("singles.jsonl" if stage == "1" else "triples.jsonl")
    if not manifest.is_file():
        raise MedJourneyError(f"{manifest} is missing: run `python -m train.prepare` first.")
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    if stage == "1":
        records = [{"prior": DUMMY_PRIOR, "target": r["image"], "text": r["impression"], "split": r["split"]} for r in rows]
    else:
        records = [{"prior": r["prior_image"], "target": r["followup_image"], "text": r[text_field], "split": r["split"]}
                   for r in rows]
    train = [r for r in records if r["split"] == "train"]
    validate = [r for r in records if r["split"] == "validate"] or train[-4:]
    if not train:
        raise MedJourneyError(f"{manifest} has no training records.")
    return train, validate


def batch_indices(step: int, count: int, batch: int, seed: int) -> np.ndarray:
    """The records of optimizer micro-step `step`: a fresh permutation per epoch, a pure function of
    (seed, step), so that a resumed run sees exactly the batches an uninterrupted one would."""
    if count < batch:
        return np.random.default_rng([seed, step]).choice(count, size=batch, replace=True)
    per_epoch = count // batch
    epoch, position = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(count)
    return order[position * batch : (position + 1) * batch]


# ------------------------------------------------------------------ trainer


class Trainer:
    def __init__(self, data: Path, stage: str, output: Path, config: TrainConfig, init: str | None = None,
                 max_steps: int | None = None, resume: str | None = None, progress: bool = True,
                 text_field: str = "description"):
        from accelerate import Accelerator

        if stage not in STAGES:
            raise MedJourneyError(f"--stage must be one of {', '.join(STAGES)}.")
        if stage == "2" and not init:
            raise MedJourneyError("Stage 2 continues from stage 1: pass --init STAGE1_OUTPUT/final (or use --stage single).")
        self.data, self.stage, self.output, self.config = data, stage, output, config
        self.progress = progress
        self.accelerator = Accelerator(mixed_precision=config.mixed_precision,
                                       gradient_accumulation_steps=config.gradient_accumulation_steps)
        self.device = self.accelerator.device
        self.train_records, self.validation_records = load_records(data, stage, text_field)
        self.unet, self.vae, self.text_encoder, self.projection, self.noise_scheduler = build(config, init, str(self.device))
        self.init = init
        self.latent_size = config.resolution // (2 ** (len(self.vae.config.block_out_channels) - 1))
        self._prepare_encodings()

        params = list(self.unet.parameters()) + list(self.projection.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.global_batch = config.batch_size * self.accelerator.num_processes
        steps_per_epoch = max(1, len(self.train_records) // self.global_batch)
        self.total_steps = max_steps if max_steps is not None else max(1, math.ceil(config.epochs * steps_per_epoch))
        warmup = config.lr_warmup_steps
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)
        self.ema = None
        if config.ema:
            from diffusers.training_utils import EMAModel

            self.ema = EMAModel(list(self.unet.parameters()) + list(self.projection.parameters()), decay=config.ema_decay)
            self.accelerator.register_for_checkpointing(self.ema)
        self.unet, self.projection, self.optimizer, self.lr_scheduler = self.accelerator.prepare(
            self.unet, self.projection, self.optimizer, self.lr_scheduler)
        self.global_step = 0
        self.stop_requested = False
        (output / "logs").mkdir(parents=True, exist_ok=True)
        (output / "checkpoints").mkdir(parents=True, exist_ok=True)
        if resume:
            self._resume(resume)

    # -------------------------------------------------------------- encodings

    def _prepare_encodings(self) -> None:
        records = self.train_records + self.validation_records
        texts = {r["text"] for r in records} | {""}
        if self.config.flip:
            texts |= {swap_sides(t) for t in texts}
        self.texts_needed = texts
        key = encoding_key(self.vae, self.text_encoder.spec, self.config.resolution, str(self.config.crop_margin))
        self.cache_folder = self.data / "cache" / f"encodings-{key}"
        self.encode_size = self.config.resolution + self.config.crop_margin
        if not self.config.cache_encodings:
            self.images = self.texts = None
            return
        paths = sorted({r["prior"] for r in records} | {r["target"] for r in records})
        with self.accelerator.main_process_first():
            self.images = build_image_cache(self.cache_folder, paths, self.vae, self.encode_size, progress=self.progress)
            self.texts = build_text_cache(self.cache_folder, sorted(texts), self.text_encoder, progress=self.progress)

    def _distribution(self, paths: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.images is not None:
            return self.images.distribution(paths)
        with torch.no_grad():  # on-the-fly encoding: the slow path, for the cache benchmark
            from medjourney_core.image_io import to_vae_range

            pixels = to_vae_range(torch.cat([load_pixels(p, self.encode_size) for p in paths]))
            pixels = pixels.expand(-1, self.vae.config.in_channels, -1, -1).to(self.device)
            distribution = self.vae.encode(pixels).latent_dist
            return distribution.mean.cpu(), distribution.logvar.cpu()

    def _text_states(self, texts: list[str]) -> torch.Tensor:
        if self.texts is not None:
            return self.texts.states(texts)
        with torch.no_grad():
            return self.text_encoder(texts).hidden_states.float().cpu()

    # -------------------------------------------------------------- one step

    def loss(self, records: list[dict], generator: torch.Generator) -> torch.Tensor:
        config = self.config
        target_mean, target_logvar = self._distribution([r["target"] for r in records])
        prior_mean, _ = self._distribution([r["prior"] for r in records])
        # The same crop and flip for prior and target: the pair stays aligned.
        stacked = random_crop(torch.cat([target_mean, target_logvar, prior_mean], 1), self.latent_size, generator)
        texts = [r["text"] for r in records]
        if config.flip:
            flips = torch.rand(len(records), generator=generator) < 0.5
            stacked = torch.where(flips[:, None, None, None], stacked.flip(-1), stacked)
            texts = [swap_sides(t) if f else t for t, f in zip(texts, flips.tolist())]
        target_mean, target_logvar, prior_latents = stacked.chunk(3, dim=1)
        noise_for_sample = torch.randn(target_mean.shape, generator=generator)
        targets = (target_mean + torch.exp(0.5 * target_logvar) * noise_for_sample) * self.vae.config.scaling_factor

        noise = torch.randn(targets.shape, generator=generator)
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (len(records),), generator=generator)
        noisy = self.noise_scheduler.add_noise(targets, noise, timesteps)

        # Conditioning dropout (InstructPix2Pix): text only, both, image only, each with probability d.
        draw = torch.rand(len(records), generator=generator)
        d = config.conditioning_dropout
        drop_text = draw < 2 * d
        drop_image = (draw >= d) & (draw < 3 * d)
        states = self._text_states(texts)
        if drop_text.any():
            null = self._text_states([""]).expand(int(drop_text.sum()), -1, -1)
            states = states.clone()
            states[drop_text] = null
        prior_latents = torch.where(drop_image[:, None, None, None], torch.zeros_like(prior_latents), prior_latents)

        device = self.device
        model_input = torch.cat([noisy, prior_latents], dim=1).to(device)
        hidden = self.projection(states.to(device))
        prediction = self.unet(model_input, timesteps.to(device), encoder_hidden_states=hidden).sample
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(targets, noise, timesteps)
        else:
            target = noise
        return F.mse_loss(prediction.float(), target.to(device).float())

    # -------------------------------------------------------------- loop

    def fit(self) -> Path:
        config, accelerator = self.config, self.accelerator
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        log = _LossLog(self.output / "logs" / "loss.csv", resume_step=self.global_step)
        bar = tqdm(total=self.total_steps, initial=self.global_step, desc=f"stage {self.stage}",
                   disable=not (self.progress and accelerator.is_main_process))
        start, samples_since = time.perf_counter(), 0
        try:
            while self.global_step < self.total_steps:
                step = self.global_step
                for micro in range(config.gradient_accumulation_steps):
                    micro_step = step * config.gradient_accumulation_steps + micro
                    indices = batch_indices(micro_step, len(self.train_records), self.global_batch, config.seed)
                    with accelerator.split_between_processes(indices.tolist()) as mine:
                        records = [self.train_records[i] for i in mine]
                    generator = torch.Generator().manual_seed(
                        int(np.random.SeedSequence([config.seed, micro_step, accelerator.process_index]).generate_state(1)[0]))
                    with accelerator.accumulate(self.unet, self.projection):
                        loss = self.loss(records, generator)
                        accelerator.backward(loss)
                        if accelerator.sync_gradients and config.max_grad_norm:
                            accelerator.clip_grad_norm_(
                                list(self.unet.parameters()) + list(self.projection.parameters()), config.max_grad_norm)
                        self.optimizer.step()
                        self.lr_scheduler.step()
                        self.optimizer.zero_grad(set_to_none=True)
                    samples_since += len(records) * accelerator.num_processes
                if self.ema is not None:
                    self.ema.step(list(accelerator.unwrap_model(self.unet).parameters())
                                  + list(accelerator.unwrap_model(self.projection).parameters()))
                self.global_step += 1
                loss_value = accelerator.gather(loss.detach()[None]).mean().item()
                if not math.isfinite(loss_value):
                    raise MedJourneyError(f"The loss became {loss_value} at step {self.global_step}; lower the learning rate.")
                elapsed = time.perf_counter() - start
                if accelerator.is_main_process:
                    log.add(self.global_step, loss_value, self.lr_scheduler.get_last_lr()[0], samples_since / max(elapsed, 1e-9))
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}")
                done = self.global_step >= self.total_steps
                if self.global_step % config.checkpoint_every == 0 or self.stop_requested or done:
                    self.save_checkpoint()
                    log.plot(self.output / "logs" / "loss.png")
                if config.validate_every and (self.global_step % config.validate_every == 0 or done):
                    self.validation_samples()
                if self.stop_requested:
                    print(f"SIGTERM: saved checkpoint at step {self.global_step}; resume with --resume latest",
                          file=sys.stderr)
                    return self.output / "checkpoints"
        finally:
            bar.close()
            log.close()
            signal.signal(signal.SIGTERM, previous)
        log.plot(self.output / "logs" / "loss.png")
        return self.save_final()

    def _on_sigterm(self, signum, frame) -> None:
        self.stop_requested = True

    # -------------------------------------------------------------- checkpoints

    def save_checkpoint(self) -> Path:
        accelerator = self.accelerator
        root = self.output / "checkpoints"
        staging = root / f".staging-{self.global_step:07d}"
        target = checkpoints.checkpoint_dir(root, self.global_step)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
        accelerator.save_state(str(staging), safe_serialization=True)
        if accelerator.is_main_process:
            checkpoints.finalize(staging, target, {"global_step": self.global_step, "stage": self.stage,
                                                   "total_steps": self.total_steps, "config": self.config.to_dict()})
            checkpoints.prune(root, self.config.keep_checkpoints)
        accelerator.wait_for_everyone()
        return target

    def _resume(self, resume: str) -> None:
        root = self.output / "checkpoints"
        if resume == "latest":
            checkpoint = checkpoints.latest_valid(root, warn=lambda m: print(m, file=sys.stderr))
            if checkpoint is None:
                print(f"no checkpoint in {root}: starting from step 0", file=sys.stderr)
                return
        else:
            checkpoint = Path(resume)
            valid, why = checkpoints.is_valid(checkpoint)
            if not valid:
                raise MedJourneyError(f"Cannot resume from {checkpoint}: {why}.")
        self.accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        if state.get("stage") != self.stage:
            raise MedJourneyError(f"{checkpoint} is from stage {state.get('stage')}, not stage {self.stage}.")
        self.global_step = int(state["global_step"])
        print(f"resumed from {checkpoint.name} (step {self.global_step})", file=sys.stderr)

    # -------------------------------------------------------------- outputs

    def pipeline(self):
        """The current model as a MedJourneyPipeline (EMA weights when EMA is on)."""
        import copy

        from medjourney_core.config import MedJourneyConfig
        from medjourney_core.pipeline import MedJourneyPipeline
        from medjourney_core.schedulers import make_scheduler

        unet = copy.deepcopy(self.accelerator.unwrap_model(self.unet)).float().eval()
        projection = copy.deepcopy(self.accelerator.unwrap_model(self.projection)).float().eval()
        if self.ema is not None:
            self.ema.copy_to(list(unet.parameters()) + list(projection.parameters()))
        schedule = dict(self.noise_scheduler.config)
        config = MedJourneyConfig(
            resolution=self.config.resolution, trained=True, default_steps=self.config.validation_steps,
            default_scheduler="dpm++", name=f"medjourney-stage-{self.stage}",
            training={"stage": self.stage, "steps": self.global_step, "data": str(self.data),
                      "init": self.init or self.config.model.init, "records": len(self.train_records),
                      "batch_size": self.config.batch_size, "learning_rate": self.config.learning_rate,
                      "resolution": self.config.resolution, "prediction_type": schedule["prediction_type"]},
        )
        return MedJourneyPipeline(unet, self.vae, make_scheduler("ddim", schedule), self.text_encoder, projection, config)

    def validation_samples(self) -> Path | None:
        if not self.accelerator.is_main_process or not self.validation_records:
            return None
        from .logs import sample_grid

        pipeline = self.pipeline()
        records = self.validation_records[: self.config.validation_samples]
        generated = []
        for record in records:
            prior = load_pixels(record["prior"], self.config.resolution)
            generated.append(pipeline(prior, record["text"], seed=0, num_inference_steps=self.config.validation_steps,
                                      output_type="np", progress=False).images[0])
        path = self.output / "samples" / f"step-{self.global_step:07d}.png"
        return sample_grid(records, generated, self.config.resolution, path, title=f"stage {self.stage}, step {self.global_step}")

    def save_final(self) -> Path:
        target = self.output / "final"
        if self.accelerator.is_main_process:
            self.pipeline().save_pretrained(target)
        self.accelerator.wait_for_everyone()
        return target


class _LossLog:
    """loss.csv (step, loss, lr, samples_per_s); on resume, rows past the resumed step are dropped."""

    def __init__(self, path: Path, resume_step: int):
        self.path = path
        rows = []
        if path.is_file():
            with open(path) as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= resume_step]
        self.rows = rows
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["step", "loss", "lr", "samples_per_s"])
            writer.writeheader()
            writer.writerows(rows)
        self.handle = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=["step", "loss", "lr", "samples_per_s"])

    def add(self, step: int, loss: float, lr: float, rate: float) -> None:
        row = {"step": step, "loss": f"{loss:.6f}", "lr": f"{lr:.3g}", "samples_per_s": f"{rate:.2f}"}
        self.rows.append(row)
        self.writer.writerow(row)
        self.handle.flush()

    def plot(self, path: Path) -> None:
        from .logs import loss_curve

        loss_curve([int(r["step"]) for r in self.rows], [float(r["loss"]) for r in self.rows], path)

    def close(self) -> None:
        self.handle.close()


# ------------------------------------------------------------------ command line



def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m train.fit", description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="the output folder of `python -m train.prepare`")
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--config", type=Path, default=None, help="YAML (default: the small phantom configuration)")
    parser.add_argument("--init", default=None, help="a MedJourney checkpoint to continue from (stage 2: stage 1's final)")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--resume", default=None, help="'latest' or a checkpoint folder")
    parser.add_argument("--text", choices=["description", "impression"], default="description",
                        help="stage 2 text: the drafted description or the follow-up's impression (ablation)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = TrainConfig.load(args.config or Path(__file__).parent / "configs" / "phantom-small.yaml")
        trainer = Trainer(args.data, args.stage, args.output, config, args.init, args.max_steps, args.resume,
                          progress=not args.quiet, text_field=args.text)
        result = trainer.fit()
    except MedJourneyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"done: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
