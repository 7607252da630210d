"""The source chest CT as attenuation, labels and reference points (read from assets/phantom/chest_ct.npz).

Array axes are [z, y, x]: z index 0 is the most inferior slice, y runs posterior -> anterior,
x runs from the patient's right to the patient's left. A PA film projects along y and shows
x left-to-right, so the patient's left lands on the image's right, as on a real PA radiograph.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().parents[2] / "assets" / "phantom" / "chest_ct.npz"
BONE_BOOST = 1.8  # bone attenuates more than its HU suggests at radiographic energies

LOBES = {
    "left upper lobe": "lung_upper_lobe_left",
    "left lower lobe": "lung_lower_lobe_left",
    "right upper lobe": "lung_upper_lobe_right",
    "right middle lobe": "lung_middle_lobe_right",
    "right lower lobe": "lung_lower_lobe_right",
}
MEDIASTINAL = ["aorta", "trachea", "esophagus", "superior_vena_cava", "brachiocephalic_trunk",
               "brachiocephalic_vein_left", "brachiocephalic_vein_right", "pulmonary_vein"]
BONE_PREFIXES = ("vertebrae", "rib_", "sternum", "clavicula", "scapula", "humerus", "hip", "femur", "skull", "sacrum",
                 "costal_cartilages")


def hu_to_mu(hu: np.ndarray) -> np.ndarray:
    """Linear attenuation relative to water (water = 1, air = 0)."""
    return np.maximum(hu.astype(np.float32) + 1000.0, 0.0) / 1000.0


@dataclass
class Anatomy:
    hu: np.ndarray  # int16 [z, y, x]
    labels: np.ndarray  # uint8 [z, y, x]
    spacing: np.ndarray  # mm [z, y, x]
    names: dict[str, int]
    digest: str

    @classmethod
    def load(cls, path: str | Path = ASSET) -> "Anatomy":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"phantom CT asset missing: {path} (see medjourney_core/phantom/asset.py)")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        with np.load(path) as data:
            names = {str(n): int(i) for i, n in zip(data["label_ids"], data["label_names"])}
            return cls(data["hu"], data["labels"], data["spacing_zyx_mm"].astype(np.float64), names, digest)

    def mask(self, *structures: str) -> np.ndarray:
        return np.isin(self.labels, [self.names[s] for s in structures])

    @cached_property
    def bone(self) -> np.ndarray:
        return np.isin(self.labels, [i for n, i in self.names.items() if n.startswith(BONE_PREFIXES)])

    @cached_property
    def mu(self) -> np.ndarray:
        mu = hu_to_mu(self.hu)
        mu[self.bone] *= BONE_BOOST
        return mu

    @cached_property
    def left_lung(self) -> np.ndarray:
        return self.mask(LOBES["left upper lobe"], LOBES["left lower lobe"])

    @cached_property
    def right_lung(self) -> np.ndarray:
        return self.mask(LOBES["right upper lobe"], LOBES["right middle lobe"], LOBES["right lower lobe"])

    @cached_property
    def heart(self) -> np.ndarray:
        return self.mask("heart", "atrial_appendage_left")

    def lung(self, side: str) -> np.ndarray:
        return self.left_lung if side == "left" else self.right_lung

    def lobe(self, name: str) -> np.ndarray:
        return self.mask(LOBES[name])

    def coordinates_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable physical coordinates (z up, y anterior, x toward the patient's left)."""
        z, y, x = (np.arange(n) * s for n, s in zip(self.hu.shape, self.spacing))
        return z[:, None, None], y[None, :, None], x[None, None, :]
