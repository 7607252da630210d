import json

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionInstructPix2PixPipeline

from medjourney_core import (
    MedJourneyError,
    MedJourneyPipeline,
    ModelLoadError,
    SEVERITIES,
    UntrainedModelError,
    read_image,
)
from medjourney_core.schedulers import make_scheduler
from medjourney_core.tiny import make_tiny_pipeline
from tests.conftest import REAL_DICOM, REAL_IMAGES, REAL_PNG

INSTRUCTION = "new right pleural effusion"


@pytest.fixture(scope="module")
def rgb_pipeline():
    """Three image channels, as Stable Diffusion's VAE, so diffusers' pipeline can be run beside ours."""
    return make_tiny_pipeline(resolution=64, image_channels=3, seed=1)


@pytest.mark.parametrize("scheduler", ["ddim", "euler_a", "dpm++"])
def test_matches_diffusers_instruct_pix2pix(rgb_pipeline, scheduler):
    ours = rgb_pipeline
    prior = ours.load_prior(REAL_PNG)  # [1, 1, 64, 64] in [0, 1]
    steps, text_scale, image_scale, seed = 6, 5.0, 1.7, 123

    mine = ours(prior, INSTRUCTION, num_inference_steps=steps, guidance_scale=text_scale,
                image_guidance_scale=image_scale, seed=seed, scheduler=scheduler, output_type="np", progress=False)

    text_states, _ = ours.encode_instructions([INSTRUCTION])
    null_states, _ = ours.encode_instructions([""])
    reference = StableDiffusionInstructPix2PixPipeline(
        vae=ours.vae, text_encoder=None, tokenizer=None, unet=ours.unet,
        scheduler=make_scheduler(scheduler, ours.scheduler.config),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    reference.set_progress_bar_config(disable=True)
    theirs = reference(
        image=prior.expand(-1, 3, -1, -1), prompt_embeds=text_states, negative_prompt_embeds=null_states,
        num_inference_steps=steps, guidance_scale=text_scale, image_guidance_scale=image_scale,
        generator=torch.Generator().manual_seed(seed), output_type="np",
    ).images.mean(axis=-1)

    assert mine.images.shape == theirs.shape == (1, 64, 64)
    np.testing.assert_allclose(mine.images, theirs, atol=1e-5)


def test_same_seed_same_image_different_seed_different_image(tiny_pipeline):
    kwargs = dict(num_inference_steps=3, output_type="np", progress=False)
    first = tiny_pipeline(REAL_PNG, INSTRUCTION, seed=7, **kwargs).images
    again = tiny_pipeline(REAL_PNG, INSTRUCTION, seed=7, **kwargs).images
    other = tiny_pipeline(REAL_PNG, INSTRUCTION, seed=8, **kwargs).images
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 1e-3


def test_instruction_and_prior_both_steer_the_output(tiny_pipeline):
    kwargs = dict(num_inference_steps=3, output_type="np", progress=False, seed=0)
    base = tiny_pipeline(REAL_PNG, INSTRUCTION, **kwargs).images
    other_text = tiny_pipeline(REAL_PNG, "no change", **kwargs).images
    other_prior = tiny_pipeline(REAL_DICOM, INSTRUCTION, **kwargs).images
    assert np.abs(base - other_text).mean() > 1e-4
    assert np.abs(base - other_prior).mean() > 1e-4


def test_sweep_is_one_batched_unet_call_per_step_and_matches_single_runs(tiny_pipeline):
    batch_sizes = []
    hook = tiny_pipeline.unet.register_forward_hook(lambda module, args, output: batch_sizes.append(args[0].shape[0]))
    try:
        sweep = tiny_pipeline.sweep(REAL_PNG, INSTRUCTION, seed=11, num_inference_steps=4, output_type="np", progress=False)
    finally:
        hook.remove()
    assert batch_sizes == [3 * len(SEVERITIES)] * 4  # three guidance branches x three severities, once per step
    assert sweep.instructions == [f"new {s} right pleural effusion" for s in SEVERITIES]
    assert sweep.seeds == [11, 11, 11]  # the journey shares one noise: only the severity changes
    for index, severity in enumerate(SEVERITIES):
        single = tiny_pipeline(REAL_PNG, INSTRUCTION, severity=severity, seed=11, num_inference_steps=4,
                               output_type="np", progress=False)
        np.testing.assert_allclose(sweep.images[index], single.images[0], atol=1e-4)


def test_num_images_per_prompt_and_output_types(tiny_pipeline):
    out = tiny_pipeline(REAL_PNG, INSTRUCTION, seed=5, num_images_per_prompt=2, num_inference_steps=2, progress=False)
    assert len(out.images) == 2 and out.images[0].mode == "L" and out.images[0].size == (64, 64)
    assert out.seeds == [5, 6]
    tensor = tiny_pipeline(REAL_PNG, INSTRUCTION, seed=5, num_inference_steps=2, output_type="pt", progress=False)
    assert tensor.images.shape == (1, 64, 64) and 0.0 <= tensor.images.min() and tensor.images.max() <= 1.0


def test_progress_callback_and_severity_and_truncation(tiny_pipeline):
    seen = []
    out = tiny_pipeline(REAL_PNG, "small left effusion", severity="large", seed=0, num_inference_steps=3,
                        progress=False, callback=lambda step, total: seen.append((step, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert out.instructions == ["large left effusion"] and out.truncated == [False]
    long = tiny_pipeline(REAL_PNG, "increased left pleural effusion and edema " * 20, seed=0, num_inference_steps=1,
                         progress=False)
    assert long.truncated == [True]


@pytest.mark.parametrize("path", REAL_IMAGES, ids=lambda p: p.name)
def test_generates_from_every_real_radiograph(tiny_pipeline, path):
    image, _ = read_image(path)
    out = tiny_pipeline(image, INSTRUCTION, seed=0, num_inference_steps=2, output_type="np", progress=False)
    assert out.images.shape == (1, 64, 64) and np.isfinite(out.images).all()


def test_bad_options_are_refused_with_clear_messages(tiny_pipeline):
    with pytest.raises(MedJourneyError, match="Steps must be between"):
        tiny_pipeline(REAL_PNG, INSTRUCTION, num_inference_steps=0)
    with pytest.raises(MedJourneyError, match="Text guidance"):
        tiny_pipeline(REAL_PNG, INSTRUCTION, guidance_scale=float("nan"))
    with pytest.raises(MedJourneyError, match="progression description"):
        tiny_pipeline(REAL_PNG, [])
    with pytest.raises(ValueError, match="Unknown scheduler"):
        tiny_pipeline(REAL_PNG, INSTRUCTION, scheduler="plms", num_inference_steps=1)
    for strength in (0.0, 1.5, float("nan")):
        with pytest.raises(MedJourneyError, match="Strength must be above 0"):
            tiny_pipeline(REAL_PNG, INSTRUCTION, strength=strength)


@pytest.mark.parametrize("scheduler", ["ddim", "euler_a", "dpm++"])
def test_strength_starts_from_the_noised_prior_part_way(tiny_pipeline, scheduler):
    calls = []
    hook = tiny_pipeline.unet.register_forward_hook(lambda module, args, output: calls.append(args[1]))
    kwargs = dict(num_inference_steps=10, seed=3, scheduler=scheduler, output_type="np", progress=False)
    try:
        full = tiny_pipeline(REAL_PNG, INSTRUCTION, **kwargs).images
        steps_full, calls[:] = list(calls), []
        part = tiny_pipeline(REAL_PNG, INSTRUCTION, strength=0.3, **kwargs).images
        steps_part, calls[:] = list(calls), []
        light = tiny_pipeline(REAL_PNG, INSTRUCTION, strength=0.1, **kwargs).images
    finally:
        hook.remove()
    assert len(steps_full) == 10 and len(steps_part) == 3  # the last 3 of the 10 timesteps
    assert [float(t) for t in steps_part] == [float(t) for t in steps_full[-3:]]
    assert np.isfinite(part).all() and np.abs(full - part).mean() > 1e-3
    # Starting from the prior noised to the lowest level keeps the image nearest the autoencoded prior.
    prior = tiny_pipeline.load_prior(REAL_PNG)
    autoencoded = tiny_pipeline.decode(tiny_pipeline.encode_prior(prior) * tiny_pipeline.vae.config.scaling_factor).numpy()
    assert np.abs(light - autoencoded).mean() < np.abs(full - autoencoded).mean()


def test_checkpoint_round_trip_is_exact(tiny_pipeline, tiny_checkpoint):
    loaded = MedJourneyPipeline.from_pretrained(tiny_checkpoint)
    kwargs = dict(seed=3, num_inference_steps=3, output_type="np", progress=False)
    np.testing.assert_array_equal(
        tiny_pipeline(REAL_PNG, INSTRUCTION, **kwargs).images, loaded(REAL_PNG, INSTRUCTION, **kwargs).images
    )
    layout = {p.name for p in tiny_checkpoint.iterdir()}
    assert {"unet", "vae", "scheduler", "text_encoder", "text_projection", "medjourney.json", "README.md"} <= layout
    assert (tiny_checkpoint / "text_projection" / "diffusion_pytorch_model.safetensors").is_file()
    assert json.loads((tiny_checkpoint / "medjourney.json").read_text())["trained"] is False
    assert "UNTRAINED" in (tiny_checkpoint / "README.md").read_text()


def test_untrained_checkpoint_is_refused_unless_allowed(tiny_checkpoint):
    with pytest.raises(UntrainedModelError, match="untrained"):
        MedJourneyPipeline.from_pretrained(tiny_checkpoint, allow_untrained=False)
    assert MedJourneyPipeline.from_pretrained(tiny_checkpoint, allow_untrained=True).config.trained is False


def test_trained_flag_survives_save_and_load(tiny_pipeline, tmp_path):
    tiny_pipeline.config.trained = True
    try:
        tiny_pipeline.save_pretrained(tmp_path / "trained")
    finally:
        tiny_pipeline.config.trained = False
    assert MedJourneyPipeline.from_pretrained(tmp_path / "trained", allow_untrained=False).config.trained


def test_save_replaces_an_existing_checkpoint_atomically(tiny_pipeline, tmp_path):
    target = tmp_path / "ckpt"
    tiny_pipeline.save_pretrained(target)
    (target / "stale.txt").write_text("from an older save")
    tiny_pipeline.save_pretrained(target)
    assert not (target / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no staging or retired folders left behind


def test_missing_and_corrupt_checkpoints(tmp_path, tiny_checkpoint):
    with pytest.raises(ModelLoadError, match="No checkpoint folder"):
        MedJourneyPipeline.from_pretrained(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="Hugging Face Hub"):
        MedJourneyPipeline.from_pretrained("medjourney/does-not-exist")  # HF_HUB_OFFLINE=1 in tests
    with pytest.raises(ModelLoadError, match="not a MedJourney checkpoint"):
        MedJourneyPipeline.from_pretrained(tmp_path)
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelLoadError, match="incomplete or corrupt"):
        MedJourneyPipeline.from_pretrained(broken)


def test_repeat_generation_reuses_the_prior_latent_and_text_states(tmp_path):
    pipeline = make_tiny_pipeline(resolution=64, seed=3)
    encodes = []
    hook = pipeline.vae.encoder.register_forward_hook(lambda *a: encodes.append(1))
    texts = []
    real = pipeline.text_encoder.forward
    pipeline.text_encoder.forward = lambda batch: (texts.extend(batch), real(batch))[1]
    try:
        kwargs = dict(seed=0, num_inference_steps=1, output_type="np", progress=False)
        first = pipeline(REAL_PNG, INSTRUCTION, **kwargs).images
        pipeline(REAL_PNG, "no change", **kwargs)  # same prior, another description
        again = pipeline(REAL_PNG, INSTRUCTION, guidance_scale=3.0, **kwargs)  # a slider moved
        assert len(encodes) == 1 and texts.count(INSTRUCTION) == 1 and texts.count("") == 1
        # Keyed by content, not by file name: the same pixels under another name hit the cache...
        copy = tmp_path / "renamed.png"
        copy.write_bytes(REAL_PNG.read_bytes())
        np.testing.assert_array_equal(pipeline(copy, INSTRUCTION, **kwargs).images, first)
        assert len(encodes) == 1
        # ...and other pixels under the same name do not.
        copy.write_bytes(REAL_DICOM.read_bytes())
        pipeline(copy, INSTRUCTION, **kwargs)
        assert len(encodes) == 2
        assert not np.array_equal(again, first)
    finally:
        hook.remove()


def test_caches_are_bounded():
    from medjourney_core.pipeline import BoundedCache

    cache = BoundedCache(3)
    for key in range(10):
        cache.put(key, key)
    assert len(cache) == 3 and cache.get(0) is None and cache.get(9) == 9
    cache.get(7)
    cache.put(10, 10)
    assert cache.get(8) is None and cache.get(7) == 7  # least recently used goes first
