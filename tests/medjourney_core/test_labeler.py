import pytest

from medjourney_core.labeler import label_report, positive_findings

CASES = [
    ("Small left effusion.", {"Pleural Effusion": 1.0}),
    ("No pneumothorax.", {"Pneumothorax": 0.0}),
    ("Possible early pneumonia.", {"Pneumonia": -1.0}),
    ("There is no focal consolidation, effusion, or pneumothorax.",
     {"Consolidation": 0.0, "Pleural Effusion": 0.0, "Pneumothorax": 0.0}),
    ("No change in the moderate right pleural effusion.", {"Pleural Effusion": 1.0}),
    ("Atelectasis versus pneumonia at the left base cannot be excluded.", {"Atelectasis": -1.0, "Pneumonia": -1.0}),
    ("The heart is moderately enlarged.", {"Cardiomegaly": 1.0}),
    ("Heart size is normal.", {"Cardiomegaly": 0.0}),
    ("Interval resolution of the left pneumothorax.", {"Pneumothorax": 0.0}),
    ("Mild pulmonary vascular congestion without overt edema.", {"Edema": 1.0}),
    ("Right IJ line tip in the SVC.", {"Support Devices": 1.0}),
    ("Heart size and pulmonary vascular engorgement appear within limits of normal.", {"Cardiomegaly": 0.0}),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_mentions_negations_and_uncertainty(text, expected):
    labels = label_report(text)
    for name, value in expected.items():
        assert labels[name] == value, (name, labels[name])


def test_no_finding_and_positive_findings():
    normal = label_report("Lungs are clear. No effusion or pneumothorax. Normal heart size.")
    assert normal["No Finding"] == 1.0 and positive_findings(normal) == []
    sick = label_report("New large left effusion. Possible right lower lobe atelectasis. Pacemaker in place.")
    assert sick["No Finding"] is None
    assert positive_findings(sick) == ["Atelectasis", "Pleural Effusion"]
    assert positive_findings(sick, uncertain_as_positive=False) == ["Pleural Effusion"]


def test_agreement_with_expert_mesh_tags_on_real_reports():
    """3,927 Indiana University reports (torchxrayvision's wheel): the figures quoted in the README."""
    from evaluate.labeler_agreement import agreement

    rows = {row["finding"]: row for row in agreement()}
    for name in ("Atelectasis", "Cardiomegaly", "Pleural Effusion", "Pneumothorax"):
        assert rows[name]["F1 U=0"] > 0.8, name
        assert rows[name]["specificity U=0"] > 0.98, name
    assert rows["Edema"]["sensitivity U=1"] > 0.9
