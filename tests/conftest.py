import os

# Tests never touch the network: every model is built here, tiny and seeded.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# The phantom's edit library is rebuilt once per test session, in a private cache.
import tempfile  # noqa: E402

os.environ["MEDJOURNEY_CACHE"] = tempfile.mkdtemp(prefix="medjourney-test-cache-")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))

DATA = Path(__file__).parent / "data"
REAL_PNG = DATA / "nih_00000001_000.png"
REAL_JPEG = DATA / "padchest_16747_3_1.jpg"
REAL_DICOM = DATA / "siim_monochrome2.dcm"
REAL_DICOM_MONO1 = DATA / "fake_monochrome1.dcm"
REAL_IMAGES = [REAL_PNG, REAL_JPEG, REAL_DICOM, REAL_DICOM_MONO1]


@pytest.fixture(scope="session")
def tiny_pipeline():
    from medjourney_core.tiny import make_tiny_pipeline

    return make_tiny_pipeline(resolution=64, seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_pipeline):
    directory = tmp_path_factory.mktemp("ckpt") / "tiny"
    tiny_pipeline.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def phantom():
    from medjourney_core.phantom.simulator import PhantomSimulator

    return PhantomSimulator()
