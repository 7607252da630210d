"""Training checkpoints: written atomically, verified by checksums, pruned to a retention limit.

    OUTPUT/checkpoints/checkpoint-0000500/   accelerate state (models, optimizer, schedulers, RNG, EMA)
                                             + trainer_state.json + manifest.json (sha256 of every file, written last)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

PREFIX = "checkpoint-"
MANIFEST = "manifest.json"


def checkpoint_dir(root: Path, step: int) -> Path:
    return root / f"{PREFIX}{step:07d}"


def finalize(staging: Path, target: Path, trainer_state: dict) -> Path:
    """Add the trainer state and the manifest to a staged checkpoint, then move it into place."""
    (staging / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2))
    files = {str(p.relative_to(staging)): _sha256(p) for p in sorted(staging.rglob("*")) if p.is_file()}
    (staging / MANIFEST).write_text(json.dumps(files, indent=2))
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def is_valid(checkpoint: Path) -> tuple[bool, str]:
    manifest = checkpoint / MANIFEST
    if not manifest.is_file():
        return False, "incomplete (no manifest)"
    try:
        files = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False, "manifest unreadable"
    for name, digest in files.items():
        path = checkpoint / name
        if not path.is_file():
            return False, f"{name} missing"
        if _sha256(path) != digest:
            return False, f"{name} corrupt (checksum mismatch)"
    return True, "ok"


def all_checkpoints(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)), key=lambda p: p.name)


def latest_valid(root: Path, warn=print) -> Path | None:
    """The newest checkpoint whose files match their checksums; corrupt ones are reported and skipped."""
    for checkpoint in reversed(all_checkpoints(root)):
        valid, why = is_valid(checkpoint)
        if valid:
            return checkpoint
        warn(f"warning: skipping {checkpoint.name}: {why}")
    return None


def prune(root: Path, keep: int) -> None:
    for checkpoint in all_checkpoints(root)[: max(0, len(all_checkpoints(root)) - keep)]:
        shutil.rmtree(checkpoint, ignore_errors=True)
    for stale in root.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
