"""MedJourney: counterfactual chest X-ray generation by instruction learning from patient journeys.

Names are imported lazily, so that light parts (image I/O, the phantom simulator) start
without loading diffusers and transformers.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "MedJourneyConfig": "config",
    "ImageReadError": "errors",
    "MedJourneyError": "errors",
    "ModelLoadError": "errors",
    "UntrainedModelError": "errors",
    "ImageInfo": "image_io",
    "prepare": "image_io",
    "read_image": "image_io",
    "to_vae_range": "image_io",
    "to_xrv_range": "image_io",
    "MedJourneyOutput": "pipeline",
    "MedJourneyPipeline": "pipeline",
    "SEVERITIES": "severity",
    "apply_severity": "severity",
    "TextEncoderSpec": "text_encoders",
    "load_text_encoder": "text_encoders",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
