"""The one exception family the product raises for problems a user can fix.

Messages are written for a clinician: what is wrong and what to do, never a
traceback and never a value read from a DICOM header.
"""


class MedJourneyError(Exception):
    """Base class: anything the CLI and the demo show to the user as a one-line message."""


class ImageReadError(MedJourneyError):
    """The input image cannot be used (not an image, corrupt, too small, too large, ...)."""


class ModelLoadError(MedJourneyError):
    """A checkpoint or text encoder cannot be found or loaded."""


class UntrainedModelError(MedJourneyError):
    """A checkpoint with random weights was offered where a trained one is required."""
