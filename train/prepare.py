"""Data preparation (paper section 3, appendix A.1): a MIMIC-CXR-JPG tree -> training triples.

    python -m train.prepare --mimic-root DIR --out DIR [--drafter rules|openai|azure] [--workers N]

1. read the tree, keep PA views (one per study);   2. order each subject's studies in time and
pair consecutive ones, split by subject folder (p10-p18 train/validate, p19 test);   3. take each
report's impression (else its findings);   4. label both studies (the CheXpert CSV when present,
else the rule labeler);   5. register each follow-up onto its prior and drop pairs that register
badly, keep pairs with at least one finding;   6. draft the progression description;   7. write
`triples.jsonl` (stage 2) and `singles.jsonl` (stage 1). Every step's results are cached under
OUT/cache, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from medjourney_core.errors import MedJourneyError
from medjourney_core.phantom.text import CHEXPERT

from .mimic import consecutive_pairs, read_tree, subject_folder
from medjourney_core.cli import OneLineParser

FINDING_COLUMNS = [c for c in CHEXPERT if c not in ("No Finding", "Support Devices")]


@dataclass
class Options:
    mimic_root: Path
    out: Path
    drafter: str = "rules"
    workers: int = 2
    reports_root: Path | None = None
    register: bool = True
    min_registration_score: float = 0.5
    size: int = 256
    validation_percent: float = 10.0
    llm_model: str = "gpt-4o"
    llm_base_url: str | None = None
    azure_endpoint: str | None = None
    allow_public_openai: bool = False
    llm_concurrency: int = 4
    progress: bool = True


class Cache:
    """Append-only JSON lines keyed by 'key'; a torn last line (a killed run) is ignored."""

    def __init__(self, path: Path):
        self.path = path
        self.items: dict[str, dict] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                    self.items[record["key"]] = record
                except (json.JSONDecodeError, KeyError):
                    continue
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(path, "a")

    def add(self, record: dict) -> None:
        self.items[record["key"]] = record
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def prepare(options: Options) -> dict:
    from medjourney_core.labeler import label_report, positive_findings
    from medjourney_core.reports import findings_and_impression, impression_or_findings

    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    tree = read_tree(options.mimic_root, options.reports_root, options.validation_percent)
    studies = tree.studies
    summary = dict(tree.counts)
    bar = dict(disable=not options.progress)

    # 3-4. Reports and labels, cached per study.
    report_cache = Cache(out / "cache" / "reports.jsonl")
    for row in tqdm(studies.itertuples(), total=len(studies), desc="reports", **bar):
        key = str(row.study_id)
        if key in report_cache.items:
            continue
        text = (tree.reports_root / row.report).read_text(errors="replace")
        labels = _csv_labels(row) if summary["labels_from"] != "rule labeler" else None
        if labels is None:
            labels = label_report(findings_and_impression(text))
        report_cache.add({"key": key, "impression": impression_or_findings(text), "labels": labels,
                          "findings": positive_findings(labels)})
    report_cache.close()
    reports = report_cache.items

    # 2. Journeys.
    pairs = consecutive_pairs(studies)
    summary["candidate_pairs"] = len(pairs)
    with_finding = [(a, b) for a, b in pairs
                    if reports[str(studies.at[a, "study_id"])]["findings"] or reports[str(studies.at[b, "study_id"])]["findings"]]
    summary["pairs_with_a_finding"] = len(with_finding)

    # 5. Registration (or none, for the ablation).
    registration = {}
    if options.register:
        registration = _register_all(tree, studies, with_finding, options)
        kept = [(a, b) for a, b in with_finding
                if registration[_pair_key(studies, a, b)]["score"] >= options.min_registration_score]
        summary["pairs_registered_above_threshold"] = len(kept)
    else:
        kept = with_finding
        summary["pairs_registered_above_threshold"] = "registration off"

    # 6. Drafting.
    drafter = _make_drafter(options, tree)
    draft_cache = Cache(out / "cache" / f"drafts-{_slug(drafter.name)}.jsonl")
    todo = [(a, b) for a, b in kept if _pair_key(studies, a, b) not in draft_cache.items]
    texts = [((tree.reports_root / studies.at[a, "report"]).read_text(errors="replace"),
              (tree.reports_root / studies.at[b, "report"]).read_text(errors="replace")) for a, b in todo]
    if todo:
        from medjourney_core.drafting import draft_many

        workers = options.llm_concurrency if options.drafter != "rules" else 1
        for (a, b), draft in zip(todo, draft_many(drafter, texts, workers, options.progress)):
            draft_cache.add({"key": _pair_key(studies, a, b), **draft.to_dict()})
    draft_cache.close()

    # 7. Manifests.
    triples = []
    for a, b in kept:
        key = _pair_key(studies, a, b)
        prior, follow = studies.loc[a], studies.loc[b]
        follow_image = registration[key]["registered"] if options.register else str(tree.root.resolve() / follow["image"])
        triples.append({
            "subject_id": int(prior["subject_id"]), "prior_study_id": int(prior["study_id"]),
            "study_id": int(follow["study_id"]), "split": prior["split"],
            "prior_image": str(tree.root.resolve() / prior["image"]), "followup_image": follow_image,
            "impression": reports[str(follow["study_id"])]["impression"],
            "description": draft_cache.items[key]["description"], "drafter": draft_cache.items[key]["drafter"],
            "prior_labels": reports[str(prior["study_id"])]["labels"], "labels": reports[str(follow["study_id"])]["labels"],
            "registration_score": registration[key]["score"] if options.register else None,
            "age": _plain(follow["anchor_age"]), "gender": _plain(follow["gender"]),
        })
    singles = [{
        "subject_id": int(row.subject_id), "study_id": int(row.study_id), "split": row.split,
        "image": str(tree.root.resolve() / row.image), "impression": reports[str(row.study_id)]["impression"],
        "labels": reports[str(row.study_id)]["labels"], "age": _plain(row.anchor_age), "gender": _plain(row.gender),
    } for row in studies.itertuples() if row.split in ("train", "validate")]
    _write_jsonl(out / "triples.jsonl", triples)
    _write_jsonl(out / "singles.jsonl", singles)
    for split in ("train", "validate", "test"):
        summary[f"triples_{split}"] = sum(t["split"] == split for t in triples)
    summary["singles_stage1"] = sum(s["split"] == "train" for s in singles)
    summary["drafter"] = drafter.name
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "prepare.json").write_text(json.dumps({
        "mimic_root": str(options.mimic_root.resolve()), "registration": options.register,
        "min_registration_score": options.min_registration_score, "size": options.size,
        "drafter": options.drafter}, indent=2) + "\n")
    return summary


# ------------------------------------------------------------------ registration


def _register_all(tree, studies, pairs, options: Options) -> dict:
    cache = Cache(options.out / "cache" / "registration.jsonl")
    folder = options.out / "registered"
    jobs = []
    for a, b in pairs:
        key = _pair_key(studies, a, b)
        done = cache.items.get(key)
        if done and Path(done["registered"]).is_file():
            continue
        target = folder / subject_folder(int(studies.at[b, "subject_id"])) / f"{key}.png"
        jobs.append((key, str(tree.root / studies.at[a, "image"]), str(tree.root / studies.at[b, "image"]),
                     str(target), options.size))
    if jobs:
        desc = f"registering ({len(pairs) - len(jobs)} already done)"
        if options.workers > 1:
            with get_context("fork").Pool(options.workers) as pool:
                for record in tqdm(pool.imap_unordered(_register_job, jobs, chunksize=4), total=len(jobs),
                                   desc=desc, disable=not options.progress):
                    cache.add(record)
        else:
            for job in tqdm(jobs, desc=desc, disable=not options.progress):
                cache.add(_register_job(job))
    cache.close()
    return cache.items


def _register_job(job) -> dict:
    from medjourney_core.image_io import prepare, read_image
    from medjourney_core.registration import register

    key, prior_path, follow_path, target, size = job
    prior = prepare(read_image(prior_path)[0], size)[0, 0].numpy()
    follow = prepare(read_image(follow_path)[0], size)[0, 0].numpy()
    result = register(prior, follow)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(target).with_suffix(".tmp.png")
    Image.fromarray(np.round(result.registered * 255).astype(np.uint8)).save(temporary)
    os.replace(temporary, target)
    return {"key": key, "registered": str(Path(target).resolve()), "score": round(result.score, 4),
            "angle_deg": round(result.angle_deg, 3), "scale": round(result.scale, 4),
            "shift_px": [round(v, 2) for v in result.shift_px]}


# ------------------------------------------------------------------ helpers


def _make_drafter(options: Options, tree):
    from medjourney_core.drafting import LLMConfig, LLMDrafter, RuleDrafter, check_endpoint

    if options.drafter == "rules":
        return RuleDrafter()
    config = LLMConfig(provider="azure" if options.drafter == "azure" else "openai", model=options.llm_model,
                       base_url=options.llm_base_url, azure_endpoint=options.azure_endpoint,
                       cache_dir=str(options.out / "cache" / "llm"))
    # A phantom export is synthetic; anything else is treated as credentialed patient data.
    credentialed = not (tree.root / "ground_truth" / "studies.jsonl").is_file()
    check_endpoint(config, credentialed, options.allow_public_openai)
    return LLMDrafter(config)


def _csv_labels(row) -> dict | None:
    values = {name: getattr(row, name.replace(" ", "_"), None) for name in CHEXPERT}
    if all(v is None or (isinstance(v, float) and math.isnan(v)) for v in values.values()):
        return None  # the study has no row in the CSV: label its report instead
    return {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)) for k, v in values.items()}


def _pair_key(studies, a, b) -> str:
    return f"s{studies.at[a, 'study_id']}_s{studies.at[b, 'study_id']}"


def _slug(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:8] + "-" + "".join(c if c.isalnum() else "_" for c in name)[:40]


def _plain(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    os.replace(temporary, path)



def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m train.prepare", description=__doc__.splitlines()[0])
    parser.add_argument("--mimic-root", required=True, type=Path, help="MIMIC-CXR-JPG tree (or a phantom export)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--drafter", choices=["rules", "openai", "azure"], default="rules")
    parser.add_argument("--workers", type=int, default=2, help="registration processes")
    parser.add_argument("--reports-root", type=Path, default=None, help="where files/pNN/.../sSTUDY.txt live (default: --mimic-root)")
    parser.add_argument("--no-registration", action="store_true", help="skip registration (the paper's ablation)")
    parser.add_argument("--min-registration-score", type=float, default=0.5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--validation-percent", type=float, default=10.0)
    parser.add_argument("--llm-model", default="gpt-4o", help="model (OpenAI-compatible) or deployment (Azure)")
    parser.add_argument("--llm-base-url", default=None, help="an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--azure-endpoint", default=None)
    parser.add_argument("--allow-public-openai", action="store_true",
                        help="permit sending reports to api.openai.com (only with zero data retention; see PhysioNet's rules)")
    parser.add_argument("--llm-concurrency", type=int, default=4)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    options = Options(args.mimic_root, args.out, args.drafter, max(1, args.workers), args.reports_root,
                      not args.no_registration, args.min_registration_score, args.size, args.validation_percent,
                      args.llm_model, args.llm_base_url, args.azure_endpoint, args.allow_public_openai,
                      max(1, args.llm_concurrency), not args.quiet)
    try:
        summary = prepare(options)
    except MedJourneyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    print(f"wrote {args.out / 'triples.jsonl'} and {args.out / 'singles.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
