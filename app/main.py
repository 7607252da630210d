"""Start the demo: `python app.py [--model PATH_OR_HUB_ID] [--allow-untrained] [--port N]`."""

from __future__ import annotations

import argparse
import os

from .models import ModelRegistry, choose_model
from .ui import MAX_UPLOAD, build_demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="MedJourney demo")
    parser.add_argument("--model", default=None, help="checkpoint folder or Hub id (default: MEDJOURNEY_MODEL, then assets/)")
    parser.add_argument("--allow-untrained", action="store_true", help="serve a random-weight model (testing only)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    registry = ModelRegistry(choose_model(args.model, args.allow_untrained or None), device=args.device)
    demo = build_demo(registry)
    demo.queue(default_concurrency_limit=1, max_size=16)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD, show_error=True)
