"""Load script for the demo (a measurement, not a test): N concurrent clients, M requests each.

    python -m app.load [--model PATH] [--allow-untrained] [--clients 8] [--requests 5] [--steps 4]

Starts the demo in its own process on a free loopback port, sends the requests through
gradio_client, and reports how many were served or rejected (queue full), latency percentiles,
and the server's resident memory before and after.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
PRIOR = ROOT / "tests" / "data" / "nih_00000001_000.png"


def wait_until_serving(url: str, server: subprocess.Popen, timeout_s: float) -> bool:
    """True once `url` answers; False if the server exits or `timeout_s` passes first."""
    deadline = time.time() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                return False
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.load", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--allow-untrained", action="store_true")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--queue-size", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    from gradio_client import Client, handle_file

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "app.py", "--port", str(port), "--queue-size", str(args.queue_size),
               "--concurrency", str(args.concurrency)]
    command += ["--model", args.model] if args.model else []
    command += ["--allow-untrained"] if args.allow_untrained else []
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        if not wait_until_serving(url, server, 180):
            print("error: the demo did not start", file=sys.stderr)
            return 1
        process = psutil.Process(server.pid)
        rss_before = process.memory_info().rss / 2**20
        outcomes = []

        def client_session(index: int):
            client = Client(url, verbose=False)
            for request in range(args.requests):
                start = time.perf_counter()
                try:
                    client.predict(handle_file(str(PRIOR)), f"new moderate left pleural effusion {request}", "as written",
                                   7.5, 1.5, args.steps, index * 100 + request, api_name="/generate")
                    outcomes.append(("served", time.perf_counter() - start))
                except Exception as error:  # noqa: BLE001 - a rejected or failed request is what we count
                    kind = "rejected" if "queue" in str(error).lower() or "full" in str(error).lower() else "failed"
                    outcomes.append((kind, time.perf_counter() - start, str(error)[:120]))

        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client_session, range(args.clients)))
        wall = time.perf_counter() - start
        rss_after = process.memory_info().rss / 2**20
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies = np.array([o[1] for o in outcomes if o[0] == "served"])
    counts = {kind: sum(o[0] == kind for o in outcomes) for kind in ("served", "rejected", "failed")}
    print(f"clients: {args.clients} x {args.requests} requests, {args.steps} steps each, queue {args.queue_size}, "
          f"concurrency {args.concurrency}")
    print(f"served: {counts['served']}  rejected: {counts['rejected']}  failed: {counts['failed']}  wall: {wall:.1f} s")
    if len(latencies):
        p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
        print(f"latency_s: p50 {p50:.2f}  p90 {p90:.2f}  p99 {p99:.2f}  max {latencies.max():.2f}")
    for outcome in outcomes:
        if outcome[0] == "failed":
            print(f"  failure: {outcome[2]}")
            break
    print(f"server_rss_mb: before {rss_before:.0f}  after {rss_after:.0f}")
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
