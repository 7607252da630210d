import pytest

from medjourney_core import SEVERITIES, apply_severity

CASES = [
    # (description, severity, expected)
    ("small left effusion", "large", "large left effusion"),
    ("small left effusion", "moderate", "moderate left effusion"),
    ("new right pleural effusion", "slight", "new slight right pleural effusion"),
    ("new moderate right pleural effusion", "large", "new large right pleural effusion"),
    ("increased cardiomegaly", "slight", "slightly increased cardiomegaly"),
    ("increased cardiomegaly", "large", "markedly increased cardiomegaly"),
    ("Increased bilateral edema", "moderate", "Moderately increased bilateral edema"),
    ("mildly increased edema", "large", "markedly increased edema"),
    ("moderate to large right apical pneumothorax", "slight", "slight right apical pneumothorax"),
    ("Small left pleural effusion slightly increased compared to prior exam.", "large",
     "Large left pleural effusion slightly increased compared to prior exam."),
    ("Left lower lobe atelectasis", "moderate", "Moderate left lower lobe atelectasis"),
    ("an effusion on the left", "large", "a large effusion on the left"),
    ("Cardiac silhouette appears enlarged", "slight", "Cardiac silhouette appears slightly enlarged"),
    ("No pneumothorax. New left effusion.", "large", "No pneumothorax. New large left effusion."),
    ("Stable appearance of the moderate pleural effusion", "slight", "Stable appearance of the slight pleural effusion"),
]


@pytest.mark.parametrize("text, severity, expected", CASES)
def test_severity_replaces_or_inserts(text, severity, expected):
    result = apply_severity(text, severity)
    assert result.text == expected
    assert result.applied


@pytest.mark.parametrize(
    "text",
    ["no pneumothorax", "No pleural effusion or pneumothorax.", "resolved pleural effusion", "without effusion",
     "no change", "The heart size is normal", "Lungs are clear."],
)
@pytest.mark.parametrize("severity", SEVERITIES)
def test_negated_or_findingless_descriptions_gain_no_severity(text, severity):
    result = apply_severity(text, severity)
    assert result.text == text
    assert not result.applied


def test_no_severity_leaves_text_alone_and_bad_severity_is_refused():
    assert apply_severity("small left effusion", None).text == "small left effusion"
    with pytest.raises(ValueError, match="slight, moderate, large"):
        apply_severity("small left effusion", "huge")


def test_every_severity_gives_a_distinct_description():
    texts = {apply_severity("new right pleural effusion", s).text for s in SEVERITIES}
    assert len(texts) == 3
