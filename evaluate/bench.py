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


BENCHMARKS = {"render": bench_render}


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
