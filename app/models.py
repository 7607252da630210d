"""Which model the demo serves, loaded lazily once and shared by every user."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from medjourney_core import MedJourneyConfig, MedJourneyError, MedJourneyPipeline

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_MODEL = ASSETS / "medjourney-phantom"


@dataclass
class ModelChoice:
    source: str | None  # path or Hub id; None when nothing is configured
    allow_untrained: bool
    why_missing: str = ""


def choose_model(cli_model: str | None = None, allow_untrained: bool | None = None) -> ModelChoice:
    """--model, else MEDJOURNEY_MODEL, else the offline default in assets/ (when it has been trained and shipped)."""
    if allow_untrained is None:
        allow_untrained = os.environ.get("MEDJOURNEY_ALLOW_UNTRAINED", "") == "1"
    source = cli_model or os.environ.get("MEDJOURNEY_MODEL") or None
    if source:
        return ModelChoice(source, allow_untrained)
    if (DEFAULT_MODEL / "medjourney.json").is_file():
        return ModelChoice(str(DEFAULT_MODEL), allow_untrained)
    return ModelChoice(
        None, allow_untrained,
        why_missing="No trained model is configured: the offline default model has not been shipped in assets/ yet. "
        "Start the demo with --model PATH_OR_HUB_ID or set MEDJOURNEY_MODEL.",
    )


class ModelRegistry:
    """Loads the chosen model on first use; later calls (from any user) share it."""

    def __init__(self, choice: ModelChoice, device: str = "cpu"):
        self.choice = choice
        self.device = device
        self._pipeline: MedJourneyPipeline | None = None
        self._error: str | None = choice.why_missing or None
        self._lock = threading.Lock()

    def pipeline(self) -> MedJourneyPipeline:
        with self._lock:
            if self._pipeline is None and self._error is None:
                try:
                    self._pipeline = MedJourneyPipeline.from_pretrained(
                        self.choice.source, device=self.device, allow_untrained=self.choice.allow_untrained
                    )
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
            return True, f"Model: {self.choice.source} (Hugging Face Hub; loads on first use)"
        if not config.trained and not self.choice.allow_untrained:
            return False, (
                f"No trained model is configured: {self.choice.source} holds random (untrained) weights, "
                "and its output would mean nothing."
            )
        trained = "trained" if config.trained else "UNTRAINED: random weights, for testing only"
        return True, f"Model: {self.choice.source} ({config.name}, {trained}, {config.resolution} px)"
