"""Command line: `python -m medjourney_core {make-tiny,generate,sweep} ...`.

Bad input or options exit non-zero with a one-line message and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import MedJourneyError
from .severity import SEVERITIES
from .cli import OneLineParser



def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m medjourney_core", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    tiny = commands.add_parser("make-tiny", help="write a tiny random checkpoint (marked untrained)")
    tiny.add_argument("--out", required=True, type=Path)
    tiny.add_argument("--resolution", type=int, default=256)
    tiny.add_argument("--seed", type=int, default=0)

    for name, help_text in (("generate", "generate one counterfactual"), ("sweep", "generate every severity")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--model", required=True, help="checkpoint folder or Hugging Face Hub id")
        command.add_argument("--prior", required=True, type=Path, help="prior radiograph: PNG, JPEG or DICOM")
        command.add_argument("--instruction", required=True, help="progression description")
        command.add_argument("--steps", type=_positive_int, default=None)
        command.add_argument("--guidance-text", type=float, default=None)
        command.add_argument("--guidance-image", type=float, default=None)
        command.add_argument("--strength", type=float, default=None,
                             help="1 samples from pure noise; lower starts from the noised prior (default: the model's)")
        command.add_argument("--seed", type=int, default=None, help="random when omitted (printed)")
        command.add_argument("--scheduler", choices=["ddim", "euler_a", "dpm++"], default=None)
        command.add_argument("--device", default="auto", help="cpu, cuda, or auto")
        command.add_argument("--out", required=True, type=Path)
        if name == "generate":
            command.add_argument("--severity", choices=SEVERITIES, default=None)

    args = parser.parse_args(argv)
    try:
        if args.command == "make-tiny":
            return _make_tiny(args)
        return _generate(args)
    except MedJourneyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _make_tiny(args) -> int:
    from .tiny import make_tiny_pipeline

    if args.resolution % 8 or args.resolution < 64:
        raise MedJourneyError("--resolution must be a multiple of 8 and at least 64.")
    pipeline = make_tiny_pipeline(resolution=args.resolution, seed=args.seed)
    pipeline.save_pretrained(args.out)
    print(f"wrote an untrained tiny checkpoint to {args.out} (random weights: for tests and smoke runs only)")
    return 0


def _generate(args) -> int:
    import secrets

    import torch

    from .export import provenance, save_gif, save_png, save_strip
    from .image_io import read_image, to_pil
    from .pipeline import MedJourneyPipeline

    if args.out.exists() and args.out.is_dir() and args.command == "generate":
        raise MedJourneyError(f"--out must be a PNG file path, and {args.out} is a folder.")
    prior, _ = read_image(args.prior)  # fail on a bad image before loading the model
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    pipeline = MedJourneyPipeline.from_pretrained(args.model, device=device)
    if not pipeline.config.trained:
        print("warning: this model is UNTRAINED (random weights); its output means nothing.", file=sys.stderr)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    settings = dict(
        num_inference_steps=args.steps,
        guidance_scale=args.guidance_text,
        image_guidance_scale=args.guidance_image,
        strength=args.strength,
        scheduler=args.scheduler,
        seed=seed,
    )
    config = pipeline.config

    def record(index: int, output, severity) -> dict:
        return provenance(
            model_id=str(args.model),
            instruction=output.instructions[index],
            seed=output.seeds[index],
            steps=args.steps or config.default_steps,
            guidance_text=config.default_guidance_text if args.guidance_text is None else args.guidance_text,
            guidance_image=config.default_guidance_image if args.guidance_image is None else args.guidance_image,
            scheduler=args.scheduler or config.default_scheduler,
            trained=config.trained,
            severity=severity,
            truncated=output.truncated[index],
            strength=config.default_strength if args.strength is None else args.strength,
        )

    if args.command == "generate":
        output = pipeline(prior, args.instruction, severity=args.severity, **settings)
        _warn_truncated(output)
        save_png(output.images[0], args.out, record(0, output, args.severity))
        print(f"wrote {args.out}  (seed {seed}; instruction: {output.instructions[0]!r})")
        return 0

    output = pipeline.sweep(prior, args.instruction, **settings)
    _warn_truncated(output)
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for index, severity in enumerate(SEVERITIES):
        save_png(output.images[index], args.out / f"{severity}.png", record(index, output, severity))
        records.append(record(index, output, severity))
    prior_image = to_pil(pipeline.load_prior(prior)[0, 0])
    save_gif([prior_image, *output.images], ["prior", *SEVERITIES], args.out / "journey.gif")
    save_strip([prior_image, *output.images], ["prior", *SEVERITIES], args.out / "strip.png")
    (args.out / "provenance.json").write_text(json.dumps(records, indent=2) + "\n")
    print(f"wrote {', '.join(s + '.png' for s in SEVERITIES)}, journey.gif and strip.png to {args.out}  (seed {seed})")
    for severity, instruction in zip(SEVERITIES, output.instructions):
        print(f"  {severity:>8}: {instruction}")
    return 0


def _warn_truncated(output) -> None:
    if any(output.truncated):
        print("warning: the description is longer than the text encoder's context and was truncated.", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
