"""Benchmarks: `python -m evaluate.bench NAME [--device cpu|cuda] [--size tiny|demo|sd15]`.

Each prints `name: value` lines and ends with its headline ratio. Figures are measured in one run
on the machine at hand; they are not unit tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


SAMPLE_PRIOR = Path(__file__).resolve().parents[1] / "tests" / "data" / "nih_00000001_000.png"


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cpus, torch threads {__import__('torch').get_num_threads()}"


def bench_render(args) -> None:
    """Phantom studies per second at 256 x 256: rendering alone, and the full export with files."""
    from medjourney_core.phantom.export import export
    from medjourney_core.phantom.simulator import PhantomSimulator

    start = time.perf_counter()
    simulator = PhantomSimulator()
    print(f"edit_library_ready_s: {time.perf_counter() - start:.2f}")
    patients = [simulator.sample(seed=0, index=i, studies=4) for i in range(25)]
    simulator.render(patients[0][0], patients[0][1][0])  # warm-up
    start = time.perf_counter()
    count = 0
    for patient, journey in patients:
        for study in journey:
            simulator.render(patient, study, 256)
            count += 1
    render_rate = count / (time.perf_counter() - start)
    print(f"render_studies_per_second_256: {render_rate:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        counts = export(os.path.join(folder, "x"), 25, 4, seed=0, size=256, progress=False, simulator=simulator)
        export_rate = counts["studies"] / (time.perf_counter() - start)
    print(f"export_studies_per_second_256: {export_rate:.1f}  (JPEG, report, masks and the true counterfactual)")
    print(f"machine: {_machine()}")
    print(f"render_vs_target_20_per_s: {render_rate / 20:.2f}x  (export: {export_rate / 20:.2f}x)")


def bench_register(args) -> None:
    """Registration pairs per second at 256 x 256, and accuracy against the phantom's known jitter."""
    import math
    from multiprocessing import get_context

    import numpy as np

    from medjourney_core.phantom.render import pixel_mapping
    from medjourney_core.phantom.simulator import PhantomSimulator
    from medjourney_core.registration import register

    simulator = PhantomSimulator()
    pairs, truths = [], []
    for index in range(40):
        patient, (prior, follow) = simulator.sample(seed=7, index=index, studies=2)
        pairs.append((simulator.render(patient, prior, 256, with_bits=False)[0],
                      simulator.render(patient, follow, 256, with_bits=False)[0]))
        truths.append(pixel_mapping(patient.appearance, prior.acquisition, follow.acquisition, 256))
    register(*pairs[0])  # warm-up
    start = time.perf_counter()
    results = [register(a, b) for a, b in pairs]
    one_process = len(pairs) / (time.perf_counter() - start)
    start = time.perf_counter()
    with get_context("fork").Pool(os.cpu_count()) as pool:
        pool.starmap(register, pairs)
    all_cores = len(pairs) / (time.perf_counter() - start)
    ys, xs = np.mgrid[40:216:8, 40:216:8]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(float)
    errors, angles = [], []
    for result, truth in zip(results, truths):
        errors.append(np.linalg.norm(truth(points) - result.map_points(points), axis=1).mean())
        step = truth(np.array([[128.0, 128.0], [129.0, 128.0]]))
        angles.append(abs(math.degrees(math.atan2(step[1, 1] - step[0, 1], step[1, 0] - step[0, 0])) - result.angle_deg))
    print(f"pairs: {len(pairs)} phantom pairs at 256 x 256 with known jitter and changing pathology")
    print(f"register_pairs_per_second_one_process: {one_process:.1f}")
    print(f"register_pairs_per_second_{os.cpu_count()}_processes: {all_cores:.1f}")
    print(f"median_error_px: {np.median(errors):.3f}  (max {np.max(errors):.3f})")
    print(f"median_rotation_error_deg: {np.median(angles):.3f}  (max {np.max(angles):.3f})")
    print(f"median_score: {np.median([r.score for r in results]):.3f}")
    print(f"machine: {_machine()}")
    print(f"register_vs_target_20_per_s: {all_cores / 20:.2f}x")


def bench_train(args) -> None:
    """Training samples per second with cached encoder outputs against on-the-fly encoding."""
    import resource

    import torch

    from medjourney_core.phantom.export import export
    from train.config import TrainConfig
    from train.fit import Trainer
    from train.prepare import Options, prepare

    size = {"tiny": 64, "demo": 256, "sd15": 256}[args.size]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        export(root / "phantom", 24, 3, seed=0, size=size, progress=False)
        prepare(Options(mimic_root=root / "phantom", out=root / "prep", workers=2, size=size, progress=False))
        config = TrainConfig.load(Path(__file__).resolve().parents[1] / "train" / "configs" / "phantom-small.yaml")
        config.resolution, config.validate_every, config.checkpoint_every = size, 0, 10**9
        if args.size == "sd15":
            config.model.init = "sd15"
        rates = {}
        for cached in (True, False):
            config.cache_encodings = cached
            trainer = Trainer(root / "prep", "single", root / f"run-{cached}", config, max_steps=0, progress=False)
            records = trainer.train_records
            generator = torch.Generator().manual_seed(0)
            batches = [[records[(i * config.batch_size + j) % len(records)] for j in range(config.batch_size)] for i in range(6)]
            trainer.loss(batches[0], generator).backward()  # warm-up
            start = time.perf_counter()
            for batch in batches[1:]:
                trainer.optimizer.zero_grad()
                trainer.loss(batch, generator).backward()
                trainer.optimizer.step()
            rates[cached] = (len(batches) - 1) * config.batch_size / (time.perf_counter() - start)
            print(f"train_samples_per_second_{'cached' if cached else 'on_the_fly'}: {rates[cached]:.2f}")
    print(f"model: phantom-small UNet {config.model.unet['block_out_channels']}, {size} px, batch {config.batch_size}")
    print(f"peak_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    if torch.cuda.is_available():
        print(f"peak_cuda_mb: {torch.cuda.max_memory_allocated() / 2**20:.0f}")
    print(f"machine: {_machine()}")
    print(f"cached_vs_on_the_fly: {rates[True] / rates[False]:.2f}x  (target 1.8x)")


def _bench_pipeline(args):
    """The pipeline benchmarks run on: tiny (random), demo (the shipped model, else its architecture at
    random weights), or sd15 (a Stable Diffusion 1.5-size UNet at random weights, GPU territory)."""
    import torch

    from medjourney_core.tiny import make_tiny_pipeline

    device = args.device
    if args.size == "tiny":
        return make_tiny_pipeline(resolution=256, image_channels=3).to(device), "tiny random UNet (32, 64), 256 px"
    if args.size == "demo":
        from app.models import DEFAULT_MODEL
        from medjourney_core.pipeline import MedJourneyPipeline

        if (DEFAULT_MODEL / "medjourney.json").is_file():
            return MedJourneyPipeline.from_pretrained(DEFAULT_MODEL, device=device), f"the shipped demo model ({DEFAULT_MODEL.name})"
        raise SystemExit("no demo model in assets/: train it first (train/recipes/phantom.sh)")
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from medjourney_core.config import MedJourneyConfig
    from medjourney_core.pipeline import MedJourneyPipeline
    from medjourney_core.projection import TextProjection
    from medjourney_core.schedulers import sd15_schedule

    tiny = make_tiny_pipeline(resolution=256)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=32, in_channels=8, out_channels=4, cross_attention_dim=768)  # SD 1.5 shape
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=2)
    pipeline = MedJourneyPipeline(unet, vae, sd15_schedule(), tiny.text_encoder,
                                  TextProjection(tiny.text_encoder.hidden_size, 768), MedJourneyConfig(resolution=256))
    dtype = torch.bfloat16 if device == "cuda" else None
    return pipeline.to(device, dtype), "SD 1.5-size UNet and VAE at random weights, 256 px"


def _timed(function, repeats: int = 3) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_inference(args) -> None:
    """Our pipeline against diffusers' StableDiffusionInstructPix2PixPipeline, identical components."""
    import torch
    from diffusers import StableDiffusionInstructPix2PixPipeline

    from medjourney_core.image_io import prepare, read_image
    from medjourney_core.schedulers import make_scheduler

    pipeline, what = _bench_pipeline(args)
    steps = 20
    prior = prepare(read_image(SAMPLE_PRIOR)[0], 256)
    text, _ = pipeline.encode_instructions(["new moderate right pleural effusion"])
    null, _ = pipeline.encode_instructions([""])
    reference = StableDiffusionInstructPix2PixPipeline(
        vae=pipeline.vae, text_encoder=None, tokenizer=None, unet=pipeline.unet,
        scheduler=make_scheduler(pipeline.config.default_scheduler, pipeline.scheduler.config),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    reference.set_progress_bar_config(disable=True)
    image = prior.expand(-1, pipeline.vae.config.in_channels, -1, -1).to(args.device, pipeline.dtype)

    def ours():
        pipeline.prior_cache.clear()  # no cache advantage: both encode the prior every time
        # strength 1: the same algorithm as InstructPix2Pix, every step from pure noise
        pipeline(prior, "new moderate right pleural effusion", num_inference_steps=steps, seed=0, progress=False,
                 output_type="pt", strength=1.0)

    def theirs():
        with torch.no_grad():
            reference(image=image, prompt_embeds=text, negative_prompt_embeds=null, num_inference_steps=steps,
                      generator=torch.Generator().manual_seed(0), output_type="pt")

    mine, diffusers_time = _timed(ours), _timed(theirs)
    print(f"model: {what}, {steps} steps of {pipeline.config.default_scheduler}, device {args.device}")
    print(f"medjourney_seconds_per_counterfactual: {mine:.3f}")
    print(f"diffusers_ip2p_seconds_per_counterfactual: {diffusers_time:.3f}")
    print(f"machine: {_machine()}")
    print(f"ours_vs_diffusers: {mine / diffusers_time:.3f}x  (target <= 1.0)")


def bench_sweep(args) -> None:
    """Three severities in one batched sweep against three sequential generations."""
    from medjourney_core.severity import SEVERITIES

    pipeline, what = _bench_pipeline(args)
    prior = SAMPLE_PRIOR
    steps = pipeline.config.default_steps
    batched = _timed(lambda: pipeline.sweep(prior, "new right pleural effusion", seed=0, num_inference_steps=steps,
                                            progress=False, output_type="np"))
    sequential = _timed(lambda: [pipeline(prior, "new right pleural effusion", severity=s, seed=0, num_inference_steps=steps,
                                          progress=False, output_type="np") for s in SEVERITIES])
    print(f"model: {what}, {steps} steps at strength {pipeline.config.default_strength}, device {args.device}")
    print(f"sweep_batched_seconds: {batched:.3f}")
    print(f"sweep_sequential_seconds: {sequential:.3f}")
    print(f"machine: {_machine()}")
    print(f"sequential_vs_batched: {sequential / batched:.2f}x  (target >= 2)")


def bench_repeat(args) -> None:
    """A second generation from the same prior with another description reuses the cached prior latent and text states."""
    pipeline, what = _bench_pipeline(args)
    prior = SAMPLE_PRIOR
    steps = pipeline.config.default_steps
    run = lambda text: pipeline(prior, text, seed=0, num_inference_steps=steps, progress=False, output_type="np")  # noqa: E731
    run("warm-up")
    firsts, seconds = [], []
    for trial in range(3):
        pipeline.prior_cache.clear()
        pipeline.text_cache.clear()
        start = time.perf_counter()
        run(f"new right pleural effusion {trial}")
        firsts.append(time.perf_counter() - start)
        start = time.perf_counter()
        run(f"new left pleural effusion {trial}")  # what the demo does all the time: same prior, new text
        seconds.append(time.perf_counter() - start)
    first, second = float(np.median(firsts)), float(np.median(seconds))
    print(f"model: {what}, {steps} steps at strength {pipeline.config.default_strength}, device {args.device}")
    print(f"first_generation_seconds: {first:.3f}")
    print(f"repeat_generation_seconds: {second:.3f}")
    print(f"prior_cache_entries: {len(pipeline.prior_cache)} of at most {pipeline.prior_cache.capacity} (key: sha256 of pixels)")
    print(f"machine: {_machine()}")
    print(f"first_vs_repeat: {first / second:.2f}x  (target >= 1.3)")


# Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets, by device-name fragment.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0}
SD15_STEP_GFLOP_256 = 515.0  # one three-branch UNet step of the SD 1.5-size UNet at 256 px (issue #9's figure)


def bench_gpu(args) -> None:
    """The SD 1.5-size UNet at 256 px, 20 steps, three-branch guidance, bf16, SDPA, channels_last:
    eager, torch.compile, and torch.compile with CUDA graphs; ms per step, ms per counterfactual, and
    the share of the GPU's bf16 peak. On a CPU (--size tiny) it runs eager only, to check the plumbing."""
    import torch

    pipeline, what = _bench_pipeline(args)
    cuda = args.device == "cuda"
    pipeline.unet.to(memory_format=torch.channels_last)
    latent = pipeline.config.resolution // 8
    sample = torch.randn(3, pipeline.unet.config.in_channels, latent, latent, device=args.device, dtype=pipeline.dtype)
    states, _ = pipeline.encode_instructions(["new moderate right pleural effusion"] * 3)
    timestep = torch.tensor(500, device=args.device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    eager_unet = pipeline.unet
    modes = [("eager", None)] + ([("compile", "max-autotune-no-cudagraphs"), ("compile+cudagraphs", "reduce-overhead")] if cuda else [])
    name = torch.cuda.get_device_name() if cuda else platform.processor() or "cpu"
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None) if cuda else None
    print(f"model: {what}, device {name}")
    results = {}
    for label, mode in modes:
        unet = eager_unet if mode is None else torch.compile(eager_unet, mode=mode, fullgraph=False)

        @torch.no_grad()
        def step():
            return unet(sample, timestep, encoder_hidden_states=states).sample

        for _ in range(3):  # warm-up (compilation happens here)
            step()
        sync()
        repeats = 20 if cuda else 3
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        sync()
        step_ms = 1000 * (time.perf_counter() - start) / repeats
        pipeline.unet = unet
        end_to_end = _timed(lambda: (pipeline(SAMPLE_PRIOR, "new moderate right pleural effusion", num_inference_steps=20,
                                              seed=0, progress=False, output_type="pt"), sync()))
        pipeline.unet = eager_unet
        results[label] = step_ms
        line = f"{label}: {step_ms:.2f} ms per UNet step (batch 3), {1000 * end_to_end:.1f} ms per counterfactual (20 steps)"
        if args.size == "sd15":
            achieved = SD15_STEP_GFLOP_256 / step_ms  # GFLOP per ms = TFLOP/s
            line += f", {achieved:.0f} TFLOP/s" + (f" = {100 * achieved / peak:.1f} % of the bf16 peak ({peak:.0f})" if peak else "")
        print(line)
    print(f"machine: {_machine()}")
    best = min(results, key=results.get)
    print(f"eager_vs_best: {results['eager'] / results[best]:.2f}x  (best: {best})")


# Where the demo's generate handler spends its time: (label, file suffix, function name) of the calls
# whose cumulative time cProfile reports. Nested rows are indented under the row that contains them.
PROFILE_ROWS = [
    ("read_image", "medjourney_core/image_io.py", "read_image"),
    ("pipeline.load_prior", "medjourney_core/pipeline.py", "load_prior"),
    ("pipeline.__call__", "medjourney_core/pipeline.py", "__call__"),
    ("  text encoder", "medjourney_core/pipeline.py", "encode_instructions"),
    ("  VAE encode (prior)", "diffusers/models/autoencoders/autoencoder_kl.py", "encode"),
    ("  UNet", "diffusers/models/unets/unet_2d_condition.py", "forward"),
    ("  scheduler step", "scheduling_dpmsolver_multistep.py", "step"),
    ("  VAE decode", "diffusers/models/autoencoders/autoencoder_kl.py", "decode"),
    ("difference_map", "medjourney_core/analysis.py", "difference_map"),
    ("evidence (evaluators, overlays, heatmap, chart)", "app/handlers.py", "evidence"),
    ("  evaluator pathology", "evaluate/evaluators.py", "pathology"),
    ("  evaluator segmentation", "evaluate/evaluators.py", "segment"),
    ("  overlays", "medjourney_core/analysis.py", "overlay"),
    ("  saliency heatmap", "medjourney_core/analysis.py", "saliency"),
    ("  probability chart", "medjourney_core/analysis.py", "probability_chart"),
    ("downloads (PNG + JSON)", "app/handlers.py", "_downloads"),
]


def bench_profile(args) -> None:
    """The demo's generate handler under cProfile: the share of each stage, and whether the UNet dominates."""
    import cProfile
    import pstats

    from app.handlers import generate
    from app.models import DEFAULT_TEXT_ONLY_MODEL, Registry, Settings, choose_model

    if args.size != "demo":
        raise SystemExit("profile runs the demo's handler on the shipped model: use --size demo")
    registry = Registry(Settings(model=choose_model(), text_only=choose_model(env="MEDJOURNEY_TEXT_ONLY_MODEL", default=DEFAULT_TEXT_ONLY_MODEL),
                                 device=args.device))
    config = registry.model.get().config  # the demo's defaults, as the UI shows them
    call = lambda trial: generate(registry, str(SAMPLE_PRIOR), f"new moderate right pleural effusion {trial}",  # noqa: E731
                                  "as written", config.default_guidance_text, config.default_guidance_image,
                                  config.default_steps, 0)
    call(-1)  # warm-up: loads the model and the evaluators
    repeats = 3
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for trial in range(repeats):
        call(trial)
    profiler.disable()
    total = (time.perf_counter() - start) / repeats
    stats = pstats.Stats(profiler).stats
    print(f"model: the shipped demo model, {config.default_steps} steps at strength {config.default_strength}, device {args.device}")
    print(f"handler_seconds_per_call: {total:.3f}  (cProfile on; it adds overhead to Python-heavy code)")
    shares = {}
    for label, suffix, function in PROFILE_ROWS:
        seconds = sum(row[3] for (path, _, name), row in stats.items()
                      if name == function and path.replace("\\", "/").endswith(suffix)) / repeats
        shares[label.strip()] = seconds / total
        print(f"{label}: {seconds:.3f} s  ({100 * seconds / total:.1f} %)")
    print(f"machine: {_machine()}")
    print(f"unet_share_of_handler: {100 * shares['UNet']:.1f} %")


BENCHMARKS = {"render": bench_render, "register": bench_register, "train": bench_train,
              "inference": bench_inference, "sweep": bench_sweep, "repeat": bench_repeat, "profile": bench_profile,
              "gpu": bench_gpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluate.bench", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--size", choices=["tiny", "demo", "sd15"], default="demo")
    args = parser.parse_args(argv)
    BENCHMARKS[args.name](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
