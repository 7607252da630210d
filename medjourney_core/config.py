"""What a checkpoint says about itself, beyond its components: plain data in `medjourney.json`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .errors import ModelLoadError

CONFIG_FILE = "medjourney.json"


@dataclass
class MedJourneyConfig:
    resolution: int = 256
    trained: bool = False  # False for random weights: the demo refuses such a model unless told otherwise
    default_steps: int = 20
    default_guidance_text: float = 7.5
    default_guidance_image: float = 1.5
    default_scheduler: str = "dpm++"
    default_strength: float = 1.0  # 1: sample from pure noise (InstructPix2Pix); < 1: from the noised prior
    name: str = "medjourney"
    training: dict = field(default_factory=dict)  # provenance: data, stages, steps, commands
    metrics: dict = field(default_factory=dict)  # measured figures for the model card
    notes: str = ""  # intended use, data and limitations, in Markdown, for the model card

    def save(self, directory: str | Path) -> None:
        (Path(directory) / CONFIG_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> "MedJourneyConfig":
        path = Path(directory) / CONFIG_FILE
        if not path.is_file():
            raise ModelLoadError(f"{directory} is not a MedJourney checkpoint ({CONFIG_FILE} is missing).")
        data = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})
