import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.metrics import roc_auc_score

from evaluate.metrics import (
    FINDINGS,
    anatomy_dice,
    auroc,
    change_accuracy,
    cmig,
    dice,
    geometric_mean,
    multiclass_auroc,
    pathology_auroc,
    pearson,
    psnr,
    roc_curve,
    score_distribution_kl,
    ssim,
)

rng = np.random.default_rng(0)


def test_auroc_matches_scikit_learn_with_ties():
    for _ in range(20):
        labels = rng.random(60) < 0.3
        scores = np.round(rng.random(60) + labels * 0.4, 1)  # rounding creates ties
        assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75  # by hand: 3 of 4 pairs ordered
    assert math.isnan(auroc([1, 1], [0.2, 0.3]))


def test_roc_curve_endpoints_and_area():
    labels = rng.random(80) < 0.4
    scores = rng.random(80) + labels * 0.3
    fpr, tpr = roc_curve(labels, scores)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(labels, scores))


def test_pathology_auroc_skips_uncertain_and_missing_labels():
    labels = np.array([[1, 0, np.nan, 1, -1], [0, 1, 0, 0, 0], [1, 1, 1, 1, 0], [0, 0, 0, 0, 1]], dtype=float)
    scores = rng.random((4, 5))
    result = pathology_auroc(labels, scores)
    keep = labels[:, 4] != -1
    assert result["Pneumothorax"] == pytest.approx(roc_auc_score(labels[keep, 4], scores[keep, 4]))
    assert result["Mean"] == pytest.approx(np.mean([result[f] for f in FINDINGS]))


def test_multiclass_auroc_is_macro_one_vs_rest():
    labels = rng.integers(0, 3, 90)
    probabilities = rng.dirichlet(np.ones(3), 90)
    expected = roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
    assert multiclass_auroc(labels, probabilities) == pytest.approx(expected)


def test_pearson_and_geometric_mean():
    x = rng.random(50)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, x**2) == pytest.approx(np.corrcoef(x, x**2)[0, 1])
    assert geometric_mean([4, 9]) == pytest.approx(6.0)


def test_cmig_as_written_and_the_papers_inconsistency():
    # Table 1, MedJourney: accuracy 80.54; retention 97.22 and 79.38.
    assert cmig([80.54], [97.22, 79.38]) == pytest.approx(84.11, abs=0.01)  # the paper prints 83.23
    assert cmig([50.0], [50.0]) == pytest.approx(50.0)
    assert cmig([80.0, 20.0], [100.0]) == pytest.approx(math.sqrt(40.0 * 100.0))


def test_score_distribution_kl():
    same = rng.random((200, 5))
    assert score_distribution_kl(same, same)["Mean"] == pytest.approx(0.0, abs=1e-9)
    shifted = np.clip(same * 0.3, 0, 1)
    kl = score_distribution_kl(same, shifted)
    assert kl["Mean"] > 1.0
    p = np.histogram(same[:, 0], np.linspace(0, 1, 21))[0] + 1e-6
    q = np.histogram(shifted[:, 0], np.linspace(0, 1, 21))[0] + 1e-6
    p, q = p / p.sum(), q / q.sum()
    assert kl["Atelectasis"] == pytest.approx(np.sum(p * np.log(p / q)))


def test_dice_by_hand():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True  # 8 pixels
    b[1:3] = True  # 8 pixels, 4 shared
    assert dice(a, b) == 0.5
    assert dice(np.zeros((2, 2)), np.zeros((2, 2))) == 1.0
    result = anatomy_dice(np.stack([a, a]), np.stack([b, a]), ["x", "y"])
    assert result == {"x": 0.5, "y": 1.0, "Mean": 0.75}


def test_psnr_and_ssim_match_scikit_image():
    a = rng.random((64, 64))
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0))
    expected = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=True)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-6)
    assert ssim(a, a) == pytest.approx(1.0)


def test_change_accuracy():
    prior = np.zeros((10, 10))
    truth = prior.copy()
    truth[:3] = 0.5
    changed = truth != prior
    perfect = change_accuracy(prior, truth, truth, changed)
    assert perfect["change_achieved"] == pytest.approx(1.0) and perfect["spurious_outside"] == 0.0
    half = change_accuracy(prior, truth * 0.5, truth, changed)
    assert half["change_achieved"] == pytest.approx(0.5)
    noisy = prior + 0.1
    result = change_accuracy(prior, noisy, truth, changed)
    assert result["spurious_outside"] == pytest.approx(0.1) and result["change_achieved"] == pytest.approx(0.2)
