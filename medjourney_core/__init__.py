"""MedJourney: counterfactual chest X-ray generation by instruction learning from patient journeys."""

__version__ = "0.1.0"

from .config import MedJourneyConfig  # noqa: E402
from .errors import ImageReadError, MedJourneyError, ModelLoadError, UntrainedModelError  # noqa: E402
from .image_io import ImageInfo, prepare, read_image, to_vae_range, to_xrv_range  # noqa: E402
from .pipeline import MedJourneyOutput, MedJourneyPipeline  # noqa: E402
from .severity import SEVERITIES, apply_severity  # noqa: E402
from .text_encoders import TextEncoderSpec, load_text_encoder  # noqa: E402

__all__ = [
    "ImageInfo",
    "ImageReadError",
    "MedJourneyConfig",
    "MedJourneyError",
    "MedJourneyOutput",
    "MedJourneyPipeline",
    "ModelLoadError",
    "SEVERITIES",
    "TextEncoderSpec",
    "UntrainedModelError",
    "apply_severity",
    "load_text_encoder",
    "prepare",
    "read_image",
    "to_vae_range",
    "to_xrv_range",
]
