import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.load import wait_until_serving

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_evaluators(tmp_path_factory):
    from evaluate.train_evaluators import train

    folder = tmp_path_factory.mktemp("app-evaluators")
    train(folder, patients=6, studies=2, seed=5, steps=3, progress=False)
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def server(tiny_checkpoint, tiny_evaluators, tmp_path_factory):
    """The real demo, in its own process, serving a tiny random model explicitly allowed."""
    port = free_port()
    env = dict(os.environ, MEDJOURNEY_PHANTOM_EVALUATORS=str(tiny_evaluators), GRADIO_ANALYTICS_ENABLED="False")
    log = open(tmp_path_factory.mktemp("server") / "server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "app.py", "--model", str(tiny_checkpoint), "--text-only-model", str(tiny_checkpoint),
         "--allow-untrained", "--evaluators", "phantom", "--port", str(port), "--concurrency", "2", "--queue-size", "64"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    assert wait_until_serving(url, process, 120), "the demo did not start in 120 s:\n" + open(log.name).read()
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()
