"""The paper's metrics (section 4.3, 5.x, appendix A.2) and ground-truth metrics, as pure functions.

All take numpy arrays. Accuracy and retention terms are percentages where the paper prints them so.
"""

from __future__ import annotations

import math

import numpy as np

FINDINGS = ["Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion", "Pneumothorax"]
CMIG_NOTE = (
    "CMIG = sqrt(geomean(accuracy terms) x geomean(retention terms)), implemented as the paper writes it. "
    "The paper's printed CMIG values do not follow from its own component columns "
    "(Table 1: 80.54, 97.22 and 79.38 give 84.11, not the printed 83.23)."
)


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half). NaN when only one class is present."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):  # average ranks over ties
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) over all thresholds."""
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    hits = labels[order]
    tpr = np.concatenate([[0.0], np.cumsum(hits) / max(hits.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(~hits) / max((~hits).sum(), 1)])
    return fpr, tpr


def pathology_auroc(labels: np.ndarray, scores: np.ndarray, names: list[str] = FINDINGS) -> dict[str, float]:
    """Per-finding AUROC of classifier scores [N, F] against reference labels [N, F] (1 positive, 0 negative,
    NaN or -1 excluded), and their mean over the findings that could be scored."""
    result = {}
    for index, name in enumerate(names):
        column = np.asarray(labels[:, index], dtype=np.float64)
        keep = np.isin(column, (0.0, 1.0))
        result[name] = auroc(column[keep], scores[keep, index]) if keep.any() else float("nan")
    valid = [v for v in result.values() if not math.isnan(v)]
    result["Mean"] = float(np.mean(valid)) if valid else float("nan")
    return result


def multiclass_auroc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """One-vs-rest macro AUROC (the race metric) over the classes present in `labels`."""
    labels = np.asarray(labels)
    values = [auroc(labels == k, probabilities[:, k]) for k in range(probabilities.shape[1]) if (labels == k).any()]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def geometric_mean(values: list[float]) -> float:
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0 or np.any(np.isnan(values)):
        return float("nan")
    if np.any(values <= 0):
        return 0.0
    return float(np.exp(np.mean(np.log(values))))


def cmig(accuracy_terms: list[float], retention_terms: list[float]) -> float:
    """Counterfactual Medical Image Generation score (paper 4.3), for any number of terms."""
    return math.sqrt(geometric_mean(accuracy_terms) * geometric_mean(retention_terms))


def score_distribution_kl(reference_scores: np.ndarray, generated_scores: np.ndarray, bins: int = 20,
                          epsilon: float = 1e-6) -> dict[str, float]:
    """KL(p || q) between the distributions of a classifier's scores on reference images (p) and on
    generated images (q), per finding (histograms over [0, 1]; empty bins smoothed by epsilon), and the
    mean. Lower means the generated images look like the references to the classifier (paper A.2)."""
    result = {}
    edges = np.linspace(0.0, 1.0, bins + 1)
    for index, name in enumerate(FINDINGS[: reference_scores.shape[1]]):
        p = np.histogram(np.clip(reference_scores[:, index], 0, 1), edges)[0].astype(np.float64) + epsilon
        q = np.histogram(np.clip(generated_scores[:, index], 0, 1), edges)[0].astype(np.float64) + epsilon
        p, q = p / p.sum(), q / q.sum()
        result[name] = float(np.sum(p * np.log(p / q)))
    result["Mean"] = float(np.mean(list(result.values())))
    return result


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a).astype(bool), np.asarray(b).astype(bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2.0 * (a & b).sum() / total)


def anatomy_dice(generated: np.ndarray, reference: np.ndarray, names: list[str]) -> dict[str, float]:
    """Dice per structure of segmentation masks [S, H, W] (or [N, S, H, W], averaged), and the mean."""
    generated, reference = np.asarray(generated).astype(bool), np.asarray(reference).astype(bool)
    if generated.ndim == 3:
        generated, reference = generated[None], reference[None]
    result = {name: float(np.mean([dice(g[i], r[i]) for g, r in zip(generated, reference)])) for i, name in enumerate(names)}
    result["Mean"] = float(np.mean(list(result.values())))
    return result


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, sigma: float = 1.5) -> float:
    """Structural similarity with a Gaussian window (Wang et al. 2004; K1 = 0.01, K2 = 0.03)."""
    from scipy.ndimage import gaussian_filter

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    blur = lambda x: gaussian_filter(x, sigma, truncate=3.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    # Unbiased covariance, as skimage's default for Gaussian windows.
    n = (2 * int(3.5 * sigma + 0.5) + 1) ** 2
    factor = n / (n - 1)
    var_a, var_b, cov = var_a * factor, var_b * factor, cov * factor
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    pad = int(3.5 * sigma + 0.5)
    return float(ssim_map[pad:-pad, pad:-pad].mean())


def change_accuracy(prior: np.ndarray, generated: np.ndarray, truth: np.ndarray, changed: np.ndarray) -> dict[str, float]:
    """How much of the true change happened where it should, and how much change happened elsewhere.

    - change_achieved: projection of the generated change onto the true change inside the changed
      region, sum((G - P)(T - P)) / sum((T - P)^2): 1 = the full change, 0 = none, < 0 = the opposite.
    - spurious_outside: mean |G - P| outside the changed region (what should have stayed put).
    - change_inside: mean |G - P| inside the region.
    """
    prior, generated, truth = (np.asarray(x, np.float64) for x in (prior, generated, truth))
    changed = np.asarray(changed).astype(bool)
    true_delta, delta = truth - prior, generated - prior
    energy = float((true_delta[changed] ** 2).sum())
    achieved = float((delta[changed] * true_delta[changed]).sum() / energy) if energy > 0 else float("nan")
    outside = ~changed
    return {
        "change_achieved": achieved,
        "spurious_outside": float(np.abs(delta[outside]).mean()) if outside.any() else float("nan"),
        "change_inside": float(np.abs(delta[changed]).mean()) if changed.any() else float("nan"),
    }
