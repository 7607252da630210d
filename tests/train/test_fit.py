import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from medjourney_core import MedJourneyPipeline
from train import encodings
from train.augment import swap_sides
from train.config import TrainConfig
from train.fit import Trainer, batch_indices, main

ROOT = Path(__file__).resolve().parents[2]


def losses(output: Path) -> list[float]:
    with open(output / "logs" / "loss.csv") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def weights(output: Path) -> dict:
    return load_file(output / "final" / "unet" / "diffusion_pytorch_model.safetensors")


def run(prepared, output, config, *extra):
    assert main(["--data", str(prepared), "--output", str(output), "--config", str(config), "--quiet", *extra]) == 0


def test_loss_falls_when_overfitting_a_few_samples(prepared, tmp_path):
    config = TrainConfig.from_dict({**__import__("tests.train.conftest", fromlist=["TINY"]).TINY, "checkpoint_every": 1000})
    trainer = Trainer(prepared, "1", tmp_path / "overfit", config, max_steps=80, progress=False)
    trainer.train_records = trainer.train_records[:4]
    trainer.fit()
    values = losses(tmp_path / "overfit")
    assert np.mean(values[-10:]) < 0.6 * np.mean(values[:10])


def test_a_resumed_run_matches_an_uninterrupted_one_step_for_step(prepared, tmp_path, tiny_config):
    config = tiny_config()
    run(prepared, tmp_path / "straight", config, "--stage", "1", "--max-steps", "10")
    run(prepared, tmp_path / "resumed", config, "--stage", "1", "--max-steps", "6")
    run(prepared, tmp_path / "resumed", config, "--stage", "1", "--max-steps", "10", "--resume", "latest")
    assert losses(tmp_path / "straight") == losses(tmp_path / "resumed")
    straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_a_corrupt_checkpoint_is_detected_and_the_previous_one_used(prepared, tmp_path, tiny_config, capsys):
    config = tiny_config()
    out = tmp_path / "run"
    run(prepared, out, config, "--stage", "1", "--max-steps", "10")
    newest = out / "checkpoints" / "checkpoint-0000010" / "model.safetensors"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    run(prepared, out, config, "--stage", "1", "--max-steps", "12", "--resume", "latest")
    err = capsys.readouterr().err
    assert "skipping checkpoint-0000010: model.safetensors corrupt" in err
    assert "resumed from checkpoint-0000005 (step 5)" in err


def _train_in_background(prepared, output, config, steps):
    return subprocess.Popen(
        [sys.executable, "-m", "train.fit", "--data", str(prepared), "--output", str(output), "--config", str(config),
         "--stage", "1", "--max-steps", str(steps), "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process, timeout=240):
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline
        time.sleep(0.05)


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint(prepared, tmp_path, tiny_config):
    config = tiny_config(checkpoint_every=3)
    out = tmp_path / "killed"
    process = _train_in_background(prepared, out, config, 400)
    _wait_for(out / "checkpoints" / "checkpoint-0000006" / "manifest.json", process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not (out / "final").exists()
    run(prepared, out, config, "--stage", "1", "--max-steps", "12", "--resume", "latest")
    steps = [int(row["step"]) for row in csv.DictReader(open(out / "logs" / "loss.csv"))]
    assert steps == list(range(1, 13))  # no gap, no repeated step
    assert (out / "final" / "medjourney.json").is_file()


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(prepared, tmp_path, tiny_config):
    config = tiny_config(checkpoint_every=1000)
    out = tmp_path / "terminated"
    process = _train_in_background(prepared, out, config, 100_000)
    _wait_for(out / "logs" / "loss.csv", process)
    while len((out / "logs" / "loss.csv").read_text().splitlines()) < 4:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0
    assert "SIGTERM: saved checkpoint at step" in err
    saved = sorted((out / "checkpoints").glob("checkpoint-*"))
    assert saved and json.loads((saved[-1] / "trainer_state.json").read_text())["global_step"] >= 3


def test_stage_two_loads_stage_one_and_the_output_generates(prepared, tmp_path, tiny_config):
    config = tiny_config()
    run(prepared, tmp_path / "stage1", config, "--stage", "1", "--max-steps", "5")
    stage1 = weights(tmp_path / "stage1")
    trainer = Trainer(prepared, "2", tmp_path / "stage2", TrainConfig.load(config), init=str(tmp_path / "stage1" / "final"),
                      max_steps=0, progress=False)
    loaded = trainer.accelerator.unwrap_model(trainer.unet).state_dict()
    assert all(torch.equal(stage1[k], loaded[k]) for k in stage1)
    run(prepared, tmp_path / "stage2b", config, "--stage", "2", "--max-steps", "4", "--init", str(tmp_path / "stage1" / "final"))
    pipeline = MedJourneyPipeline.from_pretrained(tmp_path / "stage2b" / "final", allow_untrained=False)
    assert pipeline.config.trained and pipeline.config.training["stage"] == "2"
    result = subprocess.run(
        [sys.executable, "-m", "medjourney_core", "generate", "--model", str(tmp_path / "stage2b" / "final"), "--prior",
         str(ROOT / "tests" / "data" / "nih_00000001_000.png"), "--instruction", "new left pleural effusion",
         "--steps", "2", "--seed", "0", "--out", str(tmp_path / "cf.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cf.png").is_file() and "UNTRAINED" not in result.stderr


def test_stage_two_needs_an_initialisation(prepared, tmp_path, tiny_config):
    assert main(["--data", str(prepared), "--output", str(tmp_path / "x"), "--config", str(tiny_config()),
                 "--stage", "2", "--quiet"]) == 1


def test_encodings_are_computed_once_and_shared_by_epochs_and_stages(prepared, tmp_path, tiny_config, monkeypatch):
    encoded = []
    real = encodings.load_pixels
    monkeypatch.setattr(encodings, "load_pixels", lambda path, size: (encoded.append(path), real(path, size))[1])
    config = tiny_config(crop_margin=8)  # a new margin: a new cache
    run(prepared, tmp_path / "a", config, "--stage", "1", "--max-steps", "12")
    first = len(encoded)
    assert first == len(set(encoded))  # every image encoded exactly once, over several epochs
    run(prepared, tmp_path / "b", config, "--stage", "1", "--max-steps", "3")
    assert len(encoded) == first  # a second run reuses the cache
    run(prepared, tmp_path / "c", config, "--stage", "single", "--max-steps", "3")
    assert not set(encoded[first:]) & set(encoded[:first])  # stage 2 encodes only what stage 1 had not


def test_batches_are_a_pure_function_of_seed_and_step():
    assert np.array_equal(batch_indices(7, 50, 8, 0), batch_indices(7, 50, 8, 0))
    epoch = np.concatenate([batch_indices(s, 48, 8, 0) for s in range(6)])
    assert sorted(epoch.tolist()) == list(range(48))  # one epoch visits every record once
    assert not np.array_equal(batch_indices(0, 48, 8, 0), batch_indices(6, 48, 8, 0))  # reshuffled next epoch


@pytest.mark.parametrize("text, swapped", [
    ("New large left pleural effusion.", "New large right pleural effusion."),
    ("L pleural effusion, R-sided pneumothorax", "R pleural effusion, L-sided pneumothorax"),
    ("right-sided effusion", "left-sided effusion"),
    ("Bilateral effusions, left greater than right", "Bilateral effusions, right greater than left"),
    ("Left lower lobe atelectasis", "Right lower lobe atelectasis"),
    ("L5 compression, R/O pneumonia", "L5 compression, R/O pneumonia"),
])
def test_flip_swaps_sides_in_the_text(text, swapped):
    assert swap_sides(text) == swapped
    assert swap_sides(swap_sides(text)) == text


def test_flip_mirrors_latents_and_text_together(prepared, tmp_path):
    config = TrainConfig.from_dict({**__import__("tests.train.conftest", fromlist=["TINY"]).TINY, "flip": True})
    trainer = Trainer(prepared, "single", tmp_path / "flip", config, max_steps=1, progress=False)
    seen = {}
    trainer._text_states = lambda texts: (seen.setdefault("texts", texts), torch.zeros(len(texts), 32, 384))[1]
    records = [dict(trainer.train_records[0], text="new left pleural effusion")] * 16
    trainer.loss(records, torch.Generator().manual_seed(0))
    assert {"new left pleural effusion", "new right pleural effusion"} == set(seen["texts"])
