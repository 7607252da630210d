"""Start the demo: `python app.py [--model PATH_OR_HUB_ID] [--allow-untrained] [--port N]`.

Settings (flags win over environment variables):
  --model / MEDJOURNEY_MODEL                 the MedJourney checkpoint (default: the offline model in assets/)
  --text-only-model / MEDJOURNEY_TEXT_ONLY_MODEL   the stage-1 model for the Compare tab (RoentGen setting)
  --ip2p-model / MEDJOURNEY_IP2P_MODEL       InstructPix2Pix weights for the Compare tab (path or Hub id)
  --evaluators / MEDJOURNEY_EVALUATORS       auto | phantom | xrv (auto: torchxrayvision when its weights are cached)
  --allow-untrained / MEDJOURNEY_ALLOW_UNTRAINED=1   serve a random-weight model (testing only)
  MEDJOURNEY_LLM_PROVIDER=openai|azure, MEDJOURNEY_LLM_BASE_URL, MEDJOURNEY_LLM_MODEL, AZURE_OPENAI_ENDPOINT:
      LLM drafting (off unless set; MEDJOURNEY_LLM_ALLOW_PUBLIC=1 is needed for api.openai.com)
  GRADIO_SERVER_NAME, GRADIO_SERVER_PORT     where to listen (default 127.0.0.1:7860)
"""

from __future__ import annotations

import argparse
import logging
import os

import torch

from .models import DEFAULT_TEXT_ONLY_MODEL, Registry, Settings, choose_model, llm_settings_from_environment
from .ui import build_demo

MAX_UPLOAD = "50mb"


def create(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description="MedJourney demo", epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--text-only-model", default=None)
    parser.add_argument("--ip2p-model", default=os.environ.get("MEDJOURNEY_IP2P_MODEL"))
    parser.add_argument("--evaluators", default=os.environ.get("MEDJOURNEY_EVALUATORS", "auto"), choices=["auto", "phantom", "xrv"])
    parser.add_argument("--allow-untrained", action="store_true")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--device", default=os.environ.get("MEDJOURNEY_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu"))
    parser.add_argument("--concurrency", type=int, default=1, help="generations running at once")
    parser.add_argument("--queue-size", type=int, default=16, help="requests waiting at most; more are refused")
    args = parser.parse_args(argv)
    allow = args.allow_untrained or None
    settings = Settings(
        model=choose_model(args.model, allow),
        text_only=choose_model(args.text_only_model, allow, env="MEDJOURNEY_TEXT_ONLY_MODEL",
                               default=DEFAULT_TEXT_ONLY_MODEL, what="text-only (stage-1) model"),
        ip2p=args.ip2p_model, evaluators=args.evaluators, device=args.device, llm=llm_settings_from_environment())
    demo = build_demo(Registry(settings))
    demo.queue(default_concurrency_limit=args.concurrency, max_size=args.queue_size)
    return demo, args


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines only; never inputs
    demo, args = create(argv)
    demo.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_UPLOAD, show_error=True,
                run_history=False, ssr_mode=False, footer_links=["api"])
