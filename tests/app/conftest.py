import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

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
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            assert process.poll() is None, open(log.name).read()
            assert time.time() < deadline, "the demo did not start in 120 s"
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()
