"""Agreement of the rule labeler with expert MeSH tags on real reports (Indiana University, OpenI).

    python -m evaluate.labeler_agreement

The reports ship inside torchxrayvision's wheel (`torchxrayvision/data/NLMCXR_reports.tgz`, CC BY-NC-ND).
For the five findings the paper evaluates, a report counts as positive for MeSH when one of its
<major> tags names the finding, and for the labeler when its FINDINGS + IMPRESSION get 1 (or -1,
counted both ways). Prints a markdown table.
"""

from __future__ import annotations

import os
import re
import tarfile
from html import unescape

from medjourney_core.labeler import label_report

FINDINGS = {
    "Atelectasis": "Pulmonary Atelectasis",
    "Cardiomegaly": "Cardiomegaly",
    "Edema": "Pulmonary Edema",
    "Pleural Effusion": "Pleural Effusion",
    "Pneumothorax": "Pneumothorax",
}


def iu_reports():
    import torchxrayvision

    path = os.path.join(os.path.dirname(torchxrayvision.__file__), "data", "NLMCXR_reports.tgz")
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            if not member.name.endswith(".xml"):
                continue
            xml = archive.extractfile(member).read().decode("utf-8", "replace")
            sections = dict(re.findall(r'<AbstractText Label="([A-Z]+)">(.*?)</AbstractText>', xml, re.S))
            text = " ".join(unescape(sections.get(name, "")) for name in ("FINDINGS", "IMPRESSION")).strip()
            if text:
                tags = {tag.split("/")[0].strip() for tag in re.findall(r"<major>(.*?)</major>", xml)}
                yield text, tags


def agreement() -> list[dict]:
    counts = {name: {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "tp_u": 0, "fp_u": 0, "fn_u": 0, "tn_u": 0} for name in FINDINGS}
    reports = 0
    for text, tags in iu_reports():
        reports += 1
        labels = label_report(text)
        for name, mesh in FINDINGS.items():
            truth = mesh in tags
            for suffix, accepted in (("", (1.0,)), ("_u", (1.0, -1.0))):
                predicted = labels[name] in accepted
                key = ("t" if predicted == truth else "f") + ("p" if predicted else "n") + suffix
                counts[name][key] += 1
    rows = []
    for name, c in counts.items():
        row = {"finding": name, "reports": reports, "mesh_positive": c["tp"] + c["fn"]}
        for suffix, label in (("", "U=0"), ("_u", "U=1")):
            tp, fp, fn, tn = (c[k + suffix] for k in ("tp", "fp", "fn", "tn"))
            row[f"sensitivity {label}"] = tp / max(tp + fn, 1)
            row[f"specificity {label}"] = tn / max(tn + fp, 1)
            row[f"F1 {label}"] = 2 * tp / max(2 * tp + fp + fn, 1)
        rows.append(row)
    return rows


def main() -> None:
    rows = agreement()
    print(f"Rule labeler vs MeSH major tags, {rows[0]['reports']} Indiana University reports (FINDINGS + IMPRESSION).")
    print("U=0: uncertain mentions counted negative; U=1: counted positive.\n")
    columns = ["finding", "mesh_positive", "sensitivity U=0", "specificity U=0", "F1 U=0", "sensitivity U=1",
               "specificity U=1", "F1 U=1"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) if isinstance(row[c], (str, int)) else f"{100 * row[c]:.1f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
