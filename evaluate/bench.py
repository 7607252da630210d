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


BENCHMARKS = {"render": bench_render, "register": bench_register, "train": bench_train}


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
