"""The phantom simulator: patients with journeys of studies, rendered with ground truth.

    sim = PhantomSimulator()
    patient, studies = sim.sample(seed=0, index=3, studies=4)
    film, bits = sim.render(patient, studies[0])                   # [256, 256] in [0, 1], structure bits
    truth = sim.render(patient, studies[1], acquisition=studies[0].acquisition)  # the true counterfactual
"""

from __future__ import annotations

import numpy as np

from .anatomy import Anatomy
from .render import STRUCTURES, Acquisition, EditLibrary, Renderer
from .states import Patient, Study, sample_journey, sample_patient


class IdSource:
    """MIMIC-shaped identifiers for patient `index`: unique across an export of up to 100,000 patients."""

    def __init__(self, rng: np.random.Generator, index: int):
        self.rng = rng
        self.index = index
        self.position = 0

    def subject_id(self) -> int:
        # Folder pNN is the id's first two digits; spreading over p10..p19 gives the paper's split (p19: test).
        return (10 + self.index % 10) * 1_000_000 + self.index // 10

    def study_id(self) -> int:
        self.position += 1
        return 50_000_000 + self.index * 100 + self.position

    def dicom_id(self) -> str:
        return "-".join(f"{int(self.rng.integers(0, 2**32)):08x}" for _ in range(5))


class PhantomSimulator:
    def __init__(self, cache_dir=None):
        self.anatomy = Anatomy.load()
        self.library = EditLibrary.load_or_build(self.anatomy, cache_dir)
        self.renderer = Renderer(self.library)

    def sample(self, seed: int, index: int, studies: int) -> tuple[Patient, list[Study]]:
        """Patient `index` of the export seeded `seed`: independent of every other patient."""
        rng = np.random.default_rng([seed, index])
        ids = IdSource(rng, index)
        patient = sample_patient(rng, index, ids.subject_id())
        return patient, sample_journey(rng, studies, ids)

    def render(self, patient: Patient, study: Study, size: int = 256, acquisition: Acquisition | None = None,
               with_bits: bool = True):
        return self.renderer.render(study.state, patient.appearance, acquisition or study.acquisition, size, with_bits)


def structure_mask(bits: np.ndarray, name: str) -> np.ndarray:
    """One anatomy mask (bool) out of the packed structure bits."""
    return ((bits >> STRUCTURES.index(name)) & 1).astype(bool)
