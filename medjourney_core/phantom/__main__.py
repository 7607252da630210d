"""python -m medjourney_core.phantom --out DIR --patients N --studies K --seed S [--size 256]"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from ..cli import OneLineParser



def _bounded(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, not {value}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m medjourney_core.phantom",
                     description="Export phantom patient journeys in the MIMIC-CXR-JPG layout, with ground truth.")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--patients", required=True, type=_bounded(1, 100_000))
    parser.add_argument("--studies", required=True, type=_bounded(1, 99), help="studies per patient")
    parser.add_argument("--seed", required=True, type=_bounded(0, 2**31 - 1))
    parser.add_argument("--size", type=_bounded(64, 2048), default=256)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"error: {args.out} exists and is not empty; choose a new folder.", file=sys.stderr)
        return 2

    from .export import export

    start = time.perf_counter()
    counts = export(args.out, args.patients, args.studies, args.seed, args.size, progress=not args.quiet)
    seconds = time.perf_counter() - start
    print(f"wrote {counts['studies']} studies of {counts['patients']} patients ({counts['pairs']} pairs) "
          f"to {args.out} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
