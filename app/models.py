"""What the demo serves: the MedJourney model, the comparison systems and the evaluators, each
chosen by flag or environment variable, loaded lazily once and shared by every user."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from medjourney_core import MedJourneyConfig, MedJourneyError, MedJourneyPipeline

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_MODEL = ASSETS / "medjourney-phantom"
DEFAULT_TEXT_ONLY_MODEL = ASSETS / "medjourney-phantom-stage1"


@dataclass
class ModelChoice:
    source: str | None  # path or Hub id; None when nothing is configured
    allow_untrained: bool
    why_missing: str = ""


@dataclass
class Settings:
    model: ModelChoice
    text_only: ModelChoice
    ip2p: str | None = None
    evaluators: str = "auto"  # auto | phantom | xrv
    device: str = "cpu"
    llm: dict = field(default_factory=dict)


def choose_model(cli_model: str | None = None, allow_untrained: bool | None = None,
                 env: str = "MEDJOURNEY_MODEL", default: Path | None = None, what: str = "trained model") -> ModelChoice:
    """--flag, else the environment variable, else the offline default in assets/ (when it was shipped)."""
    default = DEFAULT_MODEL if default is None else default
    if allow_untrained is None:
        allow_untrained = os.environ.get("MEDJOURNEY_ALLOW_UNTRAINED", "") == "1"
    source = cli_model or os.environ.get(env) or None
    if source:
        return ModelChoice(source, allow_untrained)
    if (default / "medjourney.json").is_file():
        return ModelChoice(str(default), allow_untrained)
    return ModelChoice(None, allow_untrained,
                       why_missing=f"No {what} is configured: start the demo with --model PATH_OR_HUB_ID or set {env}.")


def llm_settings_from_environment() -> dict:
    """LLM drafting is off unless an endpoint is configured explicitly."""
    provider = os.environ.get("MEDJOURNEY_LLM_PROVIDER", "").lower()
    if provider not in ("openai", "azure"):
        return {}
    return {"provider": provider, "model": os.environ.get("MEDJOURNEY_LLM_MODEL", "gpt-4o"),
            "base_url": os.environ.get("MEDJOURNEY_LLM_BASE_URL") or None,
            "azure_endpoint": os.environ.get("AZURE_OPENAI_ENDPOINT") or None,
            "allow_public": os.environ.get("MEDJOURNEY_LLM_ALLOW_PUBLIC", "") == "1"}


class LazyModel:
    """One MedJourney pipeline, loaded on first use; later calls share it."""

    def __init__(self, choice: ModelChoice, device: str):
        self.choice, self.device = choice, device
        self._pipeline: MedJourneyPipeline | None = None
        self._error: str | None = choice.why_missing or None
        self._lock = threading.Lock()

    def get(self) -> MedJourneyPipeline:
        with self._lock:
            if self._pipeline is None and self._error is None:
                try:
                    self._pipeline = MedJourneyPipeline.from_pretrained(
                        self.choice.source, device=self.device, allow_untrained=self.choice.allow_untrained)
                except MedJourneyError as error:
                    self._error = str(error)
            if self._pipeline is None:
                raise MedJourneyError(self._error)
            return self._pipeline

    def describe(self) -> tuple[bool, str]:
        """(servable, a line for the page), from the checkpoint's config alone: no weights are loaded."""
        if self.choice.source is None:
            return False, self.choice.why_missing
        if self._error:
            return False, self._error
        try:
            config = MedJourneyConfig.load(self.choice.source) if Path(self.choice.source).is_dir() else None
        except MedJourneyError as error:
            return False, str(error)
        if config is None:
            return True, f"{self.choice.source} (Hugging Face Hub; loads on first use)"
        if not config.trained and not self.choice.allow_untrained:
            return False, (f"No trained model is configured: {self.choice.source} holds random (untrained) weights, "
                           "and its output would mean nothing.")
        trained = "trained" if config.trained else "UNTRAINED: random weights, for testing only"
        return True, f"{self.choice.source} ({config.name}, {trained}, {config.resolution} px)"


class Registry:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.model = LazyModel(settings.model, settings.device)
        self.text_only = LazyModel(settings.text_only, settings.device)
        self._evaluators = None
        self._ip2p = None
        self._lock = threading.Lock()

    def evaluators(self):
        """The evaluators for the overlays and heatmaps: torchxrayvision's when cached, else the phantom ones."""
        from evaluate.evaluators import load_evaluators, missing_xrv_weights

        with self._lock:
            if self._evaluators is None:
                kind = self.settings.evaluators
                if kind == "auto":
                    kind = "xrv" if not missing_xrv_weights() else "phantom"
                self._evaluators = load_evaluators(kind, self.settings.device)
            return self._evaluators

    def ip2p(self):
        from evaluate.systems import DiffusersBaseline, Unavailable

        with self._lock:
            if self._ip2p is None:
                try:
                    self._ip2p = DiffusersBaseline("ip2p", self.settings.ip2p, self.settings.device, 20)
                except Unavailable as why:
                    self._ip2p = str(why)
            if isinstance(self._ip2p, str):
                raise MedJourneyError(f"InstructPix2Pix is not available: {self._ip2p}. "
                                      "Provide it with --ip2p-model PATH_OR_HUB_ID (e.g. timbrooks/instruct-pix2pix).")
            return self._ip2p
