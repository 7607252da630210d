import math

import numpy as np
import pytest

from medjourney_core.phantom.render import FOV_MM
from medjourney_core.registration import register


def true_mapping(appearance, prior, follow, size):
    """Prior pixel (x, y) -> follow-up pixel (x, y), from the two known acquisitions."""
    def rotation(degrees):
        t = math.radians(degrees)
        return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])

    field_a = FOV_MM / (appearance.body_scale * prior.scale)
    field_b = FOV_MM / (appearance.body_scale * follow.scale)

    def mapping(points):
        uv = np.stack([(points[:, 0] + 0.5) / size - 0.5, 0.5 - (points[:, 1] + 0.5) / size])
        world = (field_a / field_b) * (rotation(prior.rotation_deg) @ uv - [[prior.shift_x], [prior.shift_y]])
        ub = rotation(-follow.rotation_deg) @ (world + [[follow.shift_x], [follow.shift_y]])
        return np.stack([(ub[0] + 0.5) * size - 0.5, (0.5 - ub[1]) * size - 0.5], axis=1)

    return mapping


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
        truth = true_mapping(patient.appearance, prior.acquisition, follow.acquisition, size)
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
