import numpy as np

from medjourney_core.phantom.states import PathologyState, next_state, sample_patient
from medjourney_core.phantom.text import progression, report


def test_journeys_change_at_realistic_rates():
    rng = np.random.default_rng(0)
    transitions = {"same": 0, "changed": 0}
    prevalence = []
    for _ in range(400):
        state = next_state(rng, None)
        prevalence.append(bool(state.findings()))
        for _ in range(3):
            following = next_state(rng, state)
            transitions["same" if following == state else "changed"] += 1
            state = following
    assert 0.5 < np.mean(prevalence) < 0.9  # most, not all, first studies show something
    assert 0.3 < transitions["changed"] / sum(transitions.values()) < 0.9


def test_a_lobar_opacity_and_a_pneumothorax_never_share_a_side():
    rng = np.random.default_rng(1)
    state = None
    for _ in range(3000):
        state = next_state(rng, state)
        for kind in ("consolidation", "atelectasis"):
            lobe = getattr(state, f"{kind}_lobe")
            if lobe:
                assert not getattr(state, f"pneumothorax_{lobe.split()[0]}")
        assert not (state.consolidation_lobe and state.consolidation_lobe == state.atelectasis_lobe)


def test_patient_invariants_follow_sex_and_age():
    rng = np.random.default_rng(2)
    patients = [sample_patient(rng, i, 10_000_000 + i) for i in range(300)]
    women = [p.appearance.breast_mm for p in patients if p.sex == "F"]
    men = [p.appearance.breast_mm for p in patients if p.sex == "M"]
    assert min(women) > max(men)
    ages = np.array([p.age for p in patients])
    density = np.array([p.appearance.bone_density for p in patients])
    assert np.corrcoef(ages, density)[0, 1] < -0.9  # the age proxy


def test_report_and_description_name_side_and_change():
    rng = np.random.default_rng(3)
    before = PathologyState(effusion_right=1)
    after = PathologyState(effusion_right=3, effusion_left=2)
    text, labels = report(after, before, rng)
    assert "left" in text and "right" in text and labels["Pleural Effusion"] == 1.0
    description = progression(before, after, rng).lower()
    assert "new" in description and "left" in description
    assert "increased" in description or "enlarging" in description or "worsened" in description
    assert progression(after, PathologyState(), rng).lower().count("resolved") == 2
    normal_text, normal_labels = report(PathologyState(), None, rng)
    assert normal_labels["No Finding"] == 1.0
