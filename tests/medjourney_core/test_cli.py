import json
import subprocess
import sys

import pytest
from PIL import Image

from medjourney_core.__main__ import main
from medjourney_core.export import read_provenance
from tests.conftest import REAL_IMAGES, REAL_PNG

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "tiny"
    assert main(["make-tiny", "--out", str(out), "--resolution", "64"]) == 0
    return out


@pytest.mark.parametrize("prior", REAL_IMAGES, ids=lambda p: p.name)
def test_generate_from_each_real_radiograph(cli_checkpoint, prior, tmp_path, capsys):
    out = tmp_path / "cf.png"
    code = main(["generate", "--model", str(cli_checkpoint), "--prior", str(prior), "--instruction",
                 "small right pleural effusion", "--severity", "large", "--steps", "2", "--seed", "4",
                 "--out", str(out)])
    assert code == 0
    image = Image.open(out)
    assert image.size == (64, 64) and image.mode == "L"
    record = read_provenance(out)
    assert record["instruction"] == "large right pleural effusion"
    assert record["seed"] == 4 and record["steps"] == 2 and record["model_trained"] is False
    assert "not for diagnosis" in record["disclaimer"].lower()
    assert "UNTRAINED" in capsys.readouterr().err


def test_generate_is_reproducible_from_the_command_line(cli_checkpoint, tmp_path):
    paths = []
    for name in ("a.png", "b.png"):
        paths.append(tmp_path / name)
        main(["generate", "--model", str(cli_checkpoint), "--prior", str(REAL_PNG), "--instruction", "new edema",
              "--steps", "2", "--seed", "9", "--out", str(paths[-1])])
    assert Image.open(paths[0]).tobytes() == Image.open(paths[1]).tobytes()


def test_sweep_writes_each_severity_and_an_animated_journey(cli_checkpoint, tmp_path):
    out = tmp_path / "sweep"
    assert main(["sweep", "--model", str(cli_checkpoint), "--prior", str(REAL_PNG), "--instruction",
                 "new left pleural effusion", "--steps", "2", "--seed", "1", "--out", str(out)]) == 0
    for severity in ("slight", "moderate", "large"):
        assert Image.open(out / f"{severity}.png").size == (64, 64)
    gif = Image.open(out / "journey.gif")
    assert gif.is_animated and gif.n_frames == 4  # prior + three severities
    strip = Image.open(out / "strip.png")
    assert strip.width == 4 * 64 and strip.height > 64  # four captioned tiles side by side
    records_strength = json.loads((out / "provenance.json").read_text())[0]["strength"]
    assert records_strength == 1.0  # the checkpoint's default, recorded with every image
    records = json.loads((out / "provenance.json").read_text())
    assert [r["instruction"] for r in records] == [f"new {s} left pleural effusion" for s in ("slight", "moderate", "large")]


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "--prior", "tests/data/README.md", "--instruction", "x", "--out", "o.png"], "not an image"),
        (["generate", "--prior", "tests/data/missing.png", "--instruction", "x", "--out", "o.png"], "No image file"),
        (["generate", "--prior", "tests/data/nih_00000001_000.png", "--instruction", "x", "--out", "o.png",
          "--steps", "0"], "must be at least 1"),
        (["generate", "--prior", "tests/data/nih_00000001_000.png", "--instruction", "x", "--out", "o.png",
          "--severity", "huge"], "invalid choice"),
        (["generate", "--prior", "tests/data/nih_00000001_000.png", "--instruction", "x", "--out", "o.png",
          "--guidance-text", "-3"], "between 0 and 50"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_and_no_traceback(cli_checkpoint, tmp_path, args, message):
    args = [a if a != "o.png" else str(tmp_path / "o.png") for a in args]
    result = subprocess.run(
        [sys.executable, "-m", "medjourney_core", *args[:1], "--model", str(cli_checkpoint), *args[1:]],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.strip() and "UNTRAINED" not in line]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o.png").exists()


def test_missing_model_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "medjourney_core", "generate", "--model", str(tmp_path / "none"), "--prior",
         str(REAL_PNG), "--instruction", "x", "--out", str(tmp_path / "o.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: No checkpoint folder at {tmp_path / 'none'}."
