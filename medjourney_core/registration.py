"""Registering a follow-up radiograph onto its prior (paper section 3, appendix A.4) with SimpleITK.

    result = register(prior, follow_up)          # float images [H, W] in [0, 1], same size
    result.registered                            # the follow-up resampled into the prior's frame
    result.score                                 # normalised cross-correlation after registration

A similarity transform (rotation, isotropic scale, shift), or an affine one, estimated
multi-resolution with Mattes mutual information, which tolerates the exposure and contrast
differences between two studies. The score is the zero-mean normalised cross-correlation of
the prior and the registered follow-up over their common field: pairs of different views or
mislabelled images score low and are filtered by data preparation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class RegistrationResult:
    registered: np.ndarray  # [H, W] float32 in [0, 1]
    score: float  # NCC in [-1, 1] over the overlap
    angle_deg: float  # rotation in image coordinates (prior -> follow-up)
    scale: float
    shift_px: tuple[float, float]  # (x, y) translation in pixels
    matrix: np.ndarray  # 2 x 3: follow-up pixel (x, y) = matrix @ (x, y, 1) of the prior

    def map_points(self, points_xy: np.ndarray) -> np.ndarray:
        """Prior pixel coordinates (x, y) -> follow-up pixel coordinates."""
        return points_xy @ self.matrix[:, :2].T + self.matrix[:, 2]


# A chest film of the same patient never needs more than this; beyond it the optimiser was trapped.
PLAUSIBLE_ANGLE_DEG = 10.0
PLAUSIBLE_SCALE = (0.8, 1.25)


def register(prior: np.ndarray, follow_up: np.ndarray, kind: str = "similarity", seed: int = 1) -> RegistrationResult:
    """Register `follow_up` onto `prior`. A fast pass (5 % of pixels sampled) is retried with
    denser sampling when its result is implausible or poor, and the better result is kept."""
    if prior.shape != follow_up.shape:
        raise ValueError(f"images differ in size: {prior.shape} and {follow_up.shape}; resize both first")
    result = _register_once(prior, follow_up, kind, seed, sampling=0.05)
    if not _plausible(result) or result.score < 0.8:
        retry = _register_once(prior, follow_up, kind, seed + 1, sampling=0.3)
        if _plausible(retry) and (retry.score > result.score or not _plausible(result)):
            result = retry
    return result


def _plausible(result: RegistrationResult) -> bool:
    return abs(result.angle_deg) <= PLAUSIBLE_ANGLE_DEG and PLAUSIBLE_SCALE[0] <= result.scale <= PLAUSIBLE_SCALE[1]


def _register_once(prior: np.ndarray, follow_up: np.ndarray, kind: str, seed: int, sampling: float) -> RegistrationResult:
    import SimpleITK as sitk

    fixed = sitk.GetImageFromArray(prior.astype(np.float32))
    moving = sitk.GetImageFromArray(follow_up.astype(np.float32))
    initial = sitk.Similarity2DTransform() if kind == "similarity" else sitk.AffineTransform(2)
    initial = sitk.CenteredTransformInitializer(fixed, moving, initial, sitk.CenteredTransformInitializerFilter.GEOMETRY)

    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(sampling, max(int(seed), 1))  # a seed of 0 would mean "wall clock"
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=60, relaxationFactor=0.6, gradientMagnitudeTolerance=1e-6)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    method.SetInitialTransform(initial, inPlace=False)
    # One thread per registration: data preparation runs pairs in parallel processes, one per core.
    method.SetNumberOfThreads(1)
    transform = method.Execute(fixed, moving)

    registered = sitk.GetArrayFromImage(sitk.Resample(moving, fixed, transform, sitk.sitkLinear, -1.0, sitk.sitkFloat32))
    overlap = registered >= 0
    registered = np.where(overlap, registered, prior).astype(np.float32)  # outside the follow-up: keep the prior
    matrix = _matrix(transform)
    angle = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
    scale = float(math.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    return RegistrationResult(registered, _ncc(prior[overlap], registered[overlap]), angle, scale,
                              (float(matrix[0, 2]), float(matrix[1, 2])), matrix)


def _matrix(transform) -> np.ndarray:
    """The 2 x 3 pixel-space matrix of a SimpleITK transform (unit spacing, zero origin)."""
    origin = np.array(transform.TransformPoint((0.0, 0.0)))
    ex = np.array(transform.TransformPoint((1.0, 0.0))) - origin
    ey = np.array(transform.TransformPoint((0.0, 1.0))) - origin
    return np.array([[ex[0], ey[0], origin[0]], [ex[1], ey[1], origin[1]]])


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 16:
        return -1.0
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0
