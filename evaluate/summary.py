"""One table from several evaluation runs (a guidance sweep, ablations run apart):

    python -m evaluate.summary W/guidance/* [--system medjourney]

prints, per run folder, the system's headline metrics from its metrics.csv as a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

COLUMNS = [("CMIG", "cmig", 1), ("Pathology AUC", "pathology_auroc/Mean", 100), ("Sex-proxy AUC", "race_auroc", 100),
           ("Age Pearson", "age_pearson", 100), ("Dice", "dice/Mean", 100), ("SSIM", "truth/ssim", 1),
           ("Change achieved", "truth/change_achieved", 1), ("Spurious outside", "truth/spurious_outside", 1)]


def _cell(value: float | None, scale: float, digits: int) -> str:
    return "n/a" if value is None or value != value else f"{value * scale:.{digits}f}"


def summarize(folders: list[Path], system: str) -> str:
    lines = ["| Run | " + " | ".join(name for name, _, _ in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for folder in folders:
        path = folder / "metrics.csv"
        if not path.is_file():
            lines.append(f"| {folder.name} | " + " | ".join("missing" for _ in COLUMNS) + " |")
            continue
        values = {r["metric"]: float(r["value"]) for r in csv.DictReader(open(path)) if r["system"] == system}
        cells = [_cell(values.get(key), scale, 3 if key.startswith("truth/") else 2) for _, key, scale in COLUMNS]
        lines.append(f"| {folder.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluate.summary", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="evaluate.run output folders")
    parser.add_argument("--system", default="medjourney")
    args = parser.parse_args(argv)
    print(summarize(args.runs, args.system))
    return 0


if __name__ == "__main__":
    sys.exit(main())
