import numpy as np
import pytest
from scipy import ndimage

from medjourney_core.phantom.render import Acquisition, Appearance, PATHOLOGY_BITS
from medjourney_core.phantom.simulator import structure_mask
from medjourney_core.phantom.states import PathologyState

SIZE = 128
NORMAL = PathologyState()


def render(phantom, state=NORMAL, appearance=Appearance(), acquisition=Acquisition()):
    return phantom.renderer.render(state, appearance, acquisition, SIZE)


def change(phantom, state):
    before, bits = render(phantom)
    after, _ = render(phantom, state)
    return after - before, bits


def lower_half(mask):
    rows = np.nonzero(mask.any(axis=1))[0]
    middle = (rows.min() + rows.max()) // 2
    lower = mask.copy()
    lower[:middle] = False
    return lower


def test_film_is_a_pa_radiograph_with_the_patients_left_on_the_images_right(phantom):
    film, bits = render(phantom)
    assert film.shape == (SIZE, SIZE) and 0.0 <= film.min() and film.max() <= 1.0
    left_lung, right_lung, heart = (structure_mask(bits, n) for n in ("left_lung", "right_lung", "heart"))
    assert right_lung.nonzero()[1].mean() < SIZE / 2 < left_lung.nonzero()[1].mean()
    assert heart.nonzero()[1].mean() > SIZE / 2  # the heart sits toward the patient's left
    # Aerated lung is darker than the heart and the spine, as on a film.
    lungs_only = (left_lung | right_lung) & ~heart & ~structure_mask(bits, "spine")
    assert film[lungs_only].mean() < film[heart].mean() < film[structure_mask(bits, "spine")].mean()


def test_left_effusion_brightens_the_left_lower_zone_only(phantom):
    delta, bits = change(phantom, PathologyState(effusion_left=3))
    left, right = structure_mask(bits, "left_lung"), structure_mask(bits, "right_lung")
    assert delta[lower_half(left)].mean() > 0.05
    # The right lung, except where the two lungs overlap behind the heart and spine, is untouched.
    right_only = right & ~ndimage.binary_dilation(left, iterations=2)
    assert np.abs(delta[right_only]).max() < 1e-6
    assert np.abs(delta[:, : SIZE // 2 - 8]).max() < 1e-6  # nothing on the image's left (patient's right)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_effusion_grows_with_severity(phantom, level):
    delta, bits = change(phantom, PathologyState(effusion_right=level))
    changed = (delta > 0.02).sum()
    smaller = (change(phantom, PathologyState(effusion_right=level - 1))[0] > 0.02).sum() if level > 1 else 0
    assert changed > smaller
    # The patient's right lower zone is the image's lower left quadrant.
    assert delta[SIZE // 2 :, : SIZE // 2].mean() > 0.005 * level


def test_right_pneumothorax_darkens_the_right_lung_periphery_only(phantom):
    delta, bits = change(phantom, PathologyState(pneumothorax_right=3))
    right, left = structure_mask(bits, "right_lung"), structure_mask(bits, "left_lung")
    assert delta[right].min() < -0.05 and (delta[right] < -0.01).sum() > 50
    assert np.abs(delta[left]).max() < 1e-6


def test_cardiomegaly_enlarges_the_heart_mask_and_brightens_its_border(phantom):
    _, normal_bits = render(phantom)
    delta, _ = change(phantom, PathologyState(cardiomegaly=3))
    _, big_bits = render(phantom, PathologyState(cardiomegaly=3))
    normal_heart, big_heart = structure_mask(normal_bits, "heart"), structure_mask(big_bits, "heart")
    assert big_heart.sum() > 1.25 * normal_heart.sum()
    assert delta[big_heart & ~normal_heart].mean() > 0.02
    assert ((big_bits >> PATHOLOGY_BITS["cardiomegaly"]) & 1).sum() > 0


def test_edema_is_bilateral_and_perihilar(phantom):
    delta, bits = change(phantom, PathologyState(edema=3))
    left, right = structure_mask(bits, "left_lung"), structure_mask(bits, "right_lung")
    assert delta[left].mean() > 0.02 and delta[right].mean() > 0.02


@pytest.mark.parametrize("lobe, side", [("right lower lobe", "right"), ("left upper lobe", "left")])
@pytest.mark.parametrize("kind", ["consolidation", "atelectasis"])
def test_lobar_opacity_stays_on_its_side(phantom, kind, lobe, side):
    delta, bits = change(phantom, PathologyState(**{kind: 3, f"{kind}_lobe": lobe}))
    other = "left" if side == "right" else "right"
    assert delta[structure_mask(bits, f"{side}_lung")].max() > 0.05
    assert np.abs(delta[structure_mask(bits, f"{other}_lung")]).max() < 1e-6


def test_edits_combine_without_double_counting(phantom):
    """Edema inside consolidated lung adds nothing: the consolidation already replaced that density."""
    lobe = {"consolidation": 3, "consolidation_lobe": "right lower lobe"}
    both = phantom.renderer.line_integral(PathologyState(edema=3, **lobe), Appearance())
    consolidation = phantom.renderer.line_integral(PathologyState(**lobe), Appearance())
    edema = phantom.renderer.line_integral(PathologyState(edema=3), Appearance())
    base = phantom.renderer.line_integral(NORMAL, Appearance())
    assert np.all(both - base <= (consolidation - base) + (edema - base) + 1e-3)
    assert (both - base).sum() < ((consolidation - base) + (edema - base)).sum()


def test_masks_move_with_the_film_under_acquisition_jitter(phantom):
    still_film, still_bits = render(phantom)
    shifted = Acquisition(shift_x=0.1)
    moved_film, moved_bits = render(phantom, acquisition=shifted)
    mask_shift = structure_mask(moved_bits, "left_lung").nonzero()[1].mean() - structure_mask(still_bits, "left_lung").nonzero()[1].mean()
    # The film's own shift, from the peak of the cross-correlation of column profiles.
    a, b = still_film.mean(axis=0) - still_film.mean(), moved_film.mean(axis=0) - moved_film.mean()
    lags = np.arange(-20, 21)
    film_shift = lags[np.argmax([np.dot(a[max(0, -l): SIZE - max(0, l)], b[max(0, l): SIZE - max(0, -l)]) for l in lags])]
    assert abs(mask_shift - 0.1 * SIZE) < 1.5  # shift_x moves the anatomy toward the image's right
    assert abs(film_shift - mask_shift) < 2.5


def test_patient_invariants_change_the_film(phantom):
    base, _ = render(phantom)
    for appearance in (Appearance(breast_mm=50), Appearance(bone_density=0.7), Appearance(habitus=1.15)):
        assert np.abs(render(phantom, appearance=appearance)[0] - base).mean() > 0.005
