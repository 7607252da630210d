import math

import numpy as np
import pytest

from medjourney_core.phantom.render import pixel_mapping
from medjourney_core.registration import register


def test_recovers_known_jitter_on_phantom_pairs(phantom):
    size = 256
    ys, xs = np.mgrid[40:216:8, 40:216:8]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(float)
    errors, angle_errors = [], []
    for index in range(8):
        patient, (prior, follow) = phantom.sample(seed=11, index=index, studies=2)
        a, _ = phantom.render(patient, prior, size, with_bits=False)
        b, _ = phantom.render(patient, follow, size, with_bits=False)
        result = register(a, b)
        truth = pixel_mapping(patient.appearance, prior.acquisition, follow.acquisition, size)
        errors.append(np.linalg.norm(truth(points) - result.map_points(points), axis=1).mean())
        step = truth(np.array([[128.0, 128.0], [129.0, 128.0]]))
        true_angle = math.degrees(math.atan2(step[1, 1] - step[0, 1], step[1, 0] - step[0, 0]))
        angle_errors.append(abs(true_angle - result.angle_deg))
        assert result.score > 0.8
    assert np.median(errors) < 1.0 and max(errors) < 2.0
    assert np.median(angle_errors) < 1.0


def test_registration_is_deterministic_and_scores_a_wrong_image_low(phantom):
    patient, (prior, follow) = phantom.sample(seed=12, index=0, studies=2)
    a, _ = phantom.render(patient, prior, 128, with_bits=False)
    b, _ = phantom.render(patient, follow, 128, with_bits=False)
    first, second = register(a, b), register(a, b)
    np.testing.assert_array_equal(first.registered, second.registered)
    unrelated = np.random.default_rng(0).random((128, 128)).astype(np.float32)
    assert register(a, unrelated).score < 0.3 < first.score


def test_images_of_different_size_are_refused():
    with pytest.raises(ValueError, match="differ in size"):
        register(np.zeros((64, 64), np.float32), np.zeros((80, 64), np.float32))
