"""Keep the libraries' load reports and progress bars out of the user's terminal while loading models."""

from __future__ import annotations

import contextlib
import logging


@contextlib.contextmanager
def quiet_loading():
    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    saved = (transformers_logging.get_verbosity(), diffusers_logging.get_verbosity())
    transformers_logging.set_verbosity_error()
    diffusers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    diffusers_logging.disable_progress_bar()
    open_clip_logger = logging.getLogger("open_clip")
    saved_open_clip = open_clip_logger.level
    open_clip_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        transformers_logging.set_verbosity(saved[0])
        diffusers_logging.set_verbosity(saved[1])
        transformers_logging.enable_progress_bar()
        diffusers_logging.enable_progress_bar()
        open_clip_logger.setLevel(saved_open_clip)
