"""Rendering phantom radiographs: Beer-Lambert line integrals composed from precomputed 2D deltas.

The line integral is linear in attenuation, so every pathology edit (a region of the CT whose
density is replaced) changes the projection by a fixed 2D delta. Deltas are computed once per
edit and severity (`EditLibrary`, cached on disk), and a study is rendered by adding the deltas of
its state to the base projection, then mapping the line integral to film density through the
study's acquisition (position, scale, rotation, exposure). Edits that can be active together never
claim the same voxel (regions are built disjoint, or the states forbid the pair); the one additive
edit, edema, is corrected inside the regions that replace density.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from .anatomy import LOBES, MEDIASTINAL, Anatomy, hu_to_mu

LIBRARY_VERSION = 10
SEVERITY_LEVELS = (1, 2, 3)  # slight, moderate, large

# Anatomy mask bits (uint16 per pixel), then pathology region bits.
STRUCTURES = ("left_lung", "right_lung", "heart", "mediastinum", "spine", "diaphragm", "clavicles")
PATHOLOGY_BITS = {"effusion": 8, "pneumothorax": 9, "consolidation": 10, "atelectasis": 11, "edema": 12,
                  "cardiomegaly": 13}

FLUID_HU, CONSOLIDATION_HU, ATELECTASIS_HU, AIR_HU, PLEURAL_LINE_HU, BLOOD_HU, FAT_HU = 10, 20, 0, -1000, -250, 40, -100
EFFUSION_HEIGHT = {1: 0.17, 2: 0.27, 3: 0.42}  # fraction of the lung's height the fluid level reaches
PNEUMOTHORAX_DEPTH_MM = {1: 7.0, 2: 15.0, 3: 26.0}
CONSOLIDATION_QUANTILE = {1: 0.30, 2: 0.60, 3: 0.95}
ATELECTASIS_BAND_MM = {1: 8.0, 2: 18.0, 3: 35.0}
EDEMA_HU = {1: 150.0, 2: 320.0, 3: 500.0}
CARDIOMEGALY_GROWTH = {0: 0.0, 1: 0.10, 2: 0.20, 3: 0.30}
HEART_LEVELS = np.round(np.arange(0.90, 1.4501, 0.025), 3)

FOV_MM = 300.0
CENTER_X_MM, CENTER_Z_MM = 180.0, 165.0


@dataclass(frozen=True)
class Acquisition:
    """Per-study positioning and exposure. identity() is the canonical view."""

    rotation_deg: float = 0.0
    shift_x: float = 0.0  # fraction of the field of view, + toward the image's right
    shift_y: float = 0.0  # fraction of the field of view, + toward the image's top
    scale: float = 1.0
    exposure: float = 1.0  # > 1: a darker (more penetrated) film
    contrast: float = 1.0

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Acquisition":
        return cls(
            rotation_deg=float(rng.uniform(-3.0, 3.0)),
            shift_x=float(rng.uniform(-0.03, 0.03)),
            shift_y=float(rng.uniform(-0.03, 0.03)),
            scale=float(rng.uniform(0.97, 1.03)),
            exposure=float(rng.uniform(0.92, 1.08)),
            contrast=float(rng.uniform(0.9, 1.1)),
        )


def pixel_mapping(appearance: "Appearance", prior: Acquisition, follow: Acquisition, size: int):
    """The true registration: prior pixel (x, y) -> pixel (x, y) of the same anatomy in the follow-up."""
    def rotation(degrees: float) -> np.ndarray:
        t = np.deg2rad(degrees)
        return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])

    field_a = FOV_MM / (appearance.body_scale * prior.scale)
    field_b = FOV_MM / (appearance.body_scale * follow.scale)

    def mapping(points_xy: np.ndarray) -> np.ndarray:
        uv = np.stack([(points_xy[:, 0] + 0.5) / size - 0.5, 0.5 - (points_xy[:, 1] + 0.5) / size])
        world = (field_a / field_b) * (rotation(prior.rotation_deg) @ uv - [[prior.shift_x], [prior.shift_y]])
        ub = rotation(-follow.rotation_deg) @ (world + [[follow.shift_x], [follow.shift_y]])
        return np.stack([(ub[0] + 0.5) * size - 0.5, (0.5 - ub[1]) * size - 0.5], axis=1)

    return mapping


class EditLibrary:
    """Base projections, per-edit 2D deltas and projected regions, computed from the anatomy once."""

    def __init__(self, anatomy: Anatomy):
        self.anatomy = anatomy
        self.shape = (anatomy.hu.shape[0], anatomy.hu.shape[2])  # [z, x]
        self.deltas: dict[tuple, np.ndarray] = {}
        self.regions: dict[tuple, np.ndarray] = {}

    # -------------------------------------------------------------- building

    def build(self) -> "EditLibrary":
        a = self.anatomy
        dy = a.spacing[1]
        mu = a.mu
        self.base_bone = (np.where(a.bone, mu, 0.0).sum(axis=1) * dy).astype(np.float32)
        self.base_soft = (np.where(a.bone, 0.0, mu).sum(axis=1) * dy).astype(np.float32)
        self._mu_flat = mu.reshape(-1)
        z, y, x = a.coordinates_mm()
        self._coords = (z, y, x)

        heart_zone = self._build_heart()
        effusion_max = {}
        for side in ("left", "right"):
            lung = a.lung(side) & ~heart_zone
            effusion_max[side] = self._build_effusion(side, lung)
        for side in ("left", "right"):
            self._build_pneumothorax(side, a.lung(side) & ~heart_zone & ~effusion_max[side])
        # A pneumothorax never coexists with a lobar opacity on the same side (states.py), so
        # their regions may overlap; fluid and heart growth keep theirs.
        for lobe in LOBES:
            side = lobe.split()[0]
            allowed = a.lobe(lobe) & ~heart_zone & ~effusion_max[side]
            self._build_consolidation(lobe, allowed)
            self._build_atelectasis(lobe, allowed)
        self._build_edema((a.left_lung | a.right_lung) & ~heart_zone)
        self._build_anatomy_bits()
        del self._mu_flat, self._coords, self._region_voxels
        return self

    def _project_replacement(self, region: np.ndarray, hu: float | np.ndarray) -> np.ndarray:
        """2D change of the line integral when `region` takes density `hu`."""
        index = np.flatnonzero(region)
        new_mu = hu_to_mu(np.broadcast_to(hu, region.shape)[region] if np.ndim(hu) else np.full(index.size, hu))
        return self._project_values(index, new_mu - self._mu_flat[index])

    def _project_values(self, flat_index: np.ndarray, values: np.ndarray) -> np.ndarray:
        nz, ny, nx = self.anatomy.hu.shape
        z, rest = np.divmod(flat_index, ny * nx)
        x = rest % nx
        summed = np.bincount(z * nx + x, weights=values, minlength=nz * nx)
        return (summed.reshape(nz, nx) * self.anatomy.spacing[1]).astype(np.float32)

    def _keep(self, key: tuple, region: np.ndarray, hu) -> None:
        self.deltas[key] = self._project_replacement(region, hu)
        self.regions[key] = region.any(axis=1)
        self._region_voxels = getattr(self, "_region_voxels", {})
        self._region_voxels[key] = np.flatnonzero(region)

    def _build_heart(self) -> np.ndarray:
        a = self.anatomy
        heart = a.heart
        zz, yy, xx = np.nonzero(heart)
        center = np.array([zz.mean(), yy.mean(), xx.mean()])
        pad = np.ceil((HEART_LEVELS.max() - 1) * (np.array([np.ptp(zz), np.ptp(yy), np.ptp(xx)]) / 2 + 2)).astype(int) + 2
        lo = np.maximum(np.array([zz.min(), yy.min(), xx.min()]) - pad, 0)
        hi = np.minimum(np.array([zz.max(), yy.max(), xx.max()]) + pad + 1, heart.shape)
        box = tuple(slice(l, h) for l, h in zip(lo, hi))
        heart_box = heart[box]
        grid = np.indices(heart_box.shape).astype(np.float32)
        for axis in range(3):
            grid[axis] += lo[axis]
        # Stay inside the ribcage and off the spine: growth claims lung, fat and soft tissue only.
        claimable = ~(a.bone[box])
        zone = np.zeros_like(heart)
        self.heart_masks = []
        for level in HEART_LEVELS:
            source = [(grid[axis] - center[axis]) / level + center[axis] - lo[axis] for axis in range(3)]
            scaled = ndimage.map_coordinates(heart_box.astype(np.uint8), source, order=0, cval=0).astype(bool)
            scaled_full = np.zeros_like(heart)
            scaled_full[box] = (scaled & claimable) | (heart_box & scaled)
            grown = scaled_full & ~heart
            shrunk = heart & ~scaled_full
            delta = self._project_replacement(grown, BLOOD_HU) + self._project_replacement(shrunk, FAT_HU)
            self.deltas[("heart", float(level))] = delta
            self.heart_masks.append(scaled_full.any(axis=1))
            zone |= grown
        self.heart_masks = np.stack(self.heart_masks)
        self.regions[("heart_zone",)] = zone.any(axis=1)
        return zone

    def _build_effusion(self, side: str, lung: np.ndarray) -> np.ndarray:
        z, y, x = self._coords
        zz, yy, xx = np.nonzero(lung)
        z_mm, x_mm, y_mm = zz * self.anatomy.spacing[0], xx * self.anatomy.spacing[2], yy * self.anatomy.spacing[1]
        base, height = z_mm.min(), np.ptp(z_mm)
        medial, lateral = (x_mm.min(), x_mm.max()) if side == "left" else (x_mm.max(), x_mm.min())
        lateral_fraction = np.clip((x - medial) / (lateral - medial), 0, 1)
        posterior_fraction = np.clip((y_mm.max() - y) / max(np.ptp(y_mm), 1.0), 0, 1)
        largest = None
        for k in SEVERITY_LEVELS:
            level = EFFUSION_HEIGHT[k] * height
            # The meniscus: fluid climbs the lateral and posterior chest wall.
            surface = base + level + (10.0 + 0.35 * level) * lateral_fraction**2 + 0.2 * level * posterior_fraction
            region = lung & (z < surface)
            # The fluid thins toward its upper margin, which therefore looks hazy rather than cut.
            depth = np.clip((surface - z) / 12.0, 0.0, 1.0)
            hu = self.anatomy.hu * (1.0 - depth) + FLUID_HU * depth
            self._keep(("effusion", side, k), region, hu.astype(np.float32))
            largest = region
        return largest

    def _build_pneumothorax(self, side: str, lung: np.ndarray) -> np.ndarray:
        a = self.anatomy
        z, y, x = self._coords
        whole = a.lung(side)
        distance = ndimage.distance_transform_edt(whole, sampling=a.spacing)
        zz, _, xx = np.nonzero(whole)
        center_x = xx.mean() * a.spacing[2]
        z_top = zz.max() * a.spacing[0]
        lateral = (x > center_x) if side == "left" else (x < center_x)
        # Air collects apically and laterally in an upright patient.
        aspect = lateral | (z > z_top - 0.3 * np.ptp(zz) * a.spacing[0])
        largest = None
        for k in SEVERITY_LEVELS:
            depth = PNEUMOTHORAX_DEPTH_MM[k]
            air = lung & aspect & (distance < depth)
            pleural_line = lung & aspect & (distance >= depth) & (distance < depth + 2.0)
            self._keep(("pneumothorax", side, k), air | pleural_line,
                       np.where(air, AIR_HU, PLEURAL_LINE_HU).astype(np.float32))
            largest = air | pleural_line
        return largest

    def _build_consolidation(self, lobe: str, allowed: np.ndarray) -> None:
        z = self._coords[0]
        levels = (np.nonzero(allowed)[0] * self.anatomy.spacing[0]) if allowed.any() else np.array([0.0])
        # A smooth random boundary (fixed per lobe) so the airspace disease is patchy, not cut by a plane.
        rng = np.random.default_rng(sorted(LOBES).index(lobe))
        field = ndimage.gaussian_filter(rng.standard_normal(allowed.shape[1:]), sigma=6.0)
        field = 18.0 * field / (field.std() + 1e-6)
        for k in SEVERITY_LEVELS:
            cut = np.quantile(levels, CONSOLIDATION_QUANTILE[k])
            self._keep(("consolidation", lobe, k), allowed & (z <= cut + field[None]), CONSOLIDATION_HU)

    def _build_atelectasis(self, lobe: str, allowed: np.ndarray) -> None:
        z = self._coords[0]
        nz = allowed.shape[0]
        # Height of the lobe's lowest lung free of fluid under each (y, x), in mm: plate-like
        # atelectasis lies just above the diaphragm, or above the largest effusion.
        first = np.where(allowed.any(axis=0), allowed.argmax(axis=0), nz) * self.anatomy.spacing[0]
        for k in SEVERITY_LEVELS:
            band = allowed & (z - first[None] < ATELECTASIS_BAND_MM[k])
            self._keep(("atelectasis", lobe, k), band, ATELECTASIS_HU)

    def _build_edema(self, lungs: np.ndarray) -> None:
        a = self.anatomy
        z, y, x = self._coords
        weight = np.zeros(lungs.shape, np.float32)
        for side in ("left", "right"):
            lung = a.lung(side)
            zz, yy, xx = np.nonzero(lung)
            hilum_x = (np.quantile(xx, 0.15) if side == "left" else np.quantile(xx, 0.85)) * a.spacing[2]
            hilum = (np.quantile(zz, 0.6) * a.spacing[0], yy.mean() * a.spacing[1], hilum_x)
            distance = np.sqrt((z - hilum[0]) ** 2 + (y - hilum[1]) ** 2 + (x - hilum[2]) ** 2)
            weight = np.where(lung, np.exp(-distance / 70.0), weight)
        weight = np.where(lungs, weight, 0.0).astype(np.float32)
        flat_weight = weight.reshape(-1)
        index = np.flatnonzero(lungs)
        # +1 HU scaled by the weight, per mm: a unit delta that severities multiply.
        self.deltas[("edema_unit",)] = self._project_values(index, flat_weight[index] / 1000.0)
        self.regions[("edema",)] = (weight > 0.35).any(axis=1)
        self.edema_within = {
            key: self._project_values(voxels, flat_weight[voxels] / 1000.0)
            for key, voxels in self._region_voxels.items()
        }

    def _build_anatomy_bits(self) -> None:
        a = self.anatomy
        # The lung field a reader (or a segmenter) outlines: where the beam crosses a substantial
        # length of aerated lung, not the thin posterior recesses seen through the liver.
        left = self._lung_field(a.left_lung)
        right = self._lung_field(a.right_lung)
        mediastinum = a.mask(*MEDIASTINAL).any(axis=1) & ~a.heart.any(axis=1)
        spine = a.mask(*[n for n in a.names if n.startswith("vertebrae")]).any(axis=1)
        clavicles = a.mask("clavicula_left", "clavicula_right").any(axis=1)
        # The diaphragm: 15 mm of dome under each lung column.
        lungs = left | right
        rows = int(round(15.0 / a.spacing[0]))
        lowest = np.where(lungs.any(axis=0), lungs.argmax(axis=0), -1)
        diaphragm = np.zeros_like(lungs)
        for column in np.nonzero(lowest >= 0)[0]:
            diaphragm[max(lowest[column] - rows, 0) : lowest[column], column] = True
        bits = np.zeros(self.shape, np.uint16)
        for bit, mask in enumerate((left, right, None, mediastinum, spine, diaphragm, clavicles)):
            if mask is not None:
                bits |= mask.astype(np.uint16) << bit
        self.anatomy_bits = bits

    def _lung_field(self, lung: np.ndarray) -> np.ndarray:
        length = lung.sum(axis=1) * self.anatomy.spacing[1]
        field = length > 0.3 * length.max()
        return ndimage.binary_opening(ndimage.binary_fill_holes(field), iterations=1)

    # -------------------------------------------------------------- caching

    @classmethod
    def load_or_build(cls, anatomy: Anatomy, cache_dir: str | Path | None = None) -> "EditLibrary":
        cache_dir = Path(cache_dir or os.environ.get("MEDJOURNEY_CACHE", Path.home() / ".cache" / "medjourney"))
        path = cache_dir / f"phantom-edits-v{LIBRARY_VERSION}-{anatomy.digest}.npz"
        library = cls(anatomy)
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    library._restore(data)
                return library
            except (OSError, KeyError, ValueError):
                pass  # a corrupt cache is rebuilt
        library.build()
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(temporary, **library._arrays())
        os.replace(temporary, path)
        return library

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"base_bone": self.base_bone, "base_soft": self.base_soft, "heart_masks": self.heart_masks,
                  "anatomy_bits": self.anatomy_bits}
        for key, value in self.deltas.items():
            arrays["delta|" + "|".join(map(str, key))] = value
        for key, value in self.regions.items():
            arrays["region|" + "|".join(map(str, key))] = value
        for key, value in self.edema_within.items():
            arrays["edema_within|" + "|".join(map(str, key))] = value
        return arrays

    def _restore(self, data) -> None:
        def parse(parts: list[str]) -> tuple:
            return tuple(int(p) if p.isdigit() else float(p) if p.replace(".", "", 1).isdigit() else p for p in parts)

        self.base_bone, self.base_soft = data["base_bone"], data["base_soft"]
        self.heart_masks, self.anatomy_bits = data["heart_masks"], data["anatomy_bits"]
        self.edema_within = {}
        for name in data.files:
            kind, _, rest = name.partition("|")
            if kind == "delta":
                self.deltas[parse(rest.split("|"))] = data[name]
            elif kind == "region":
                self.regions[parse(rest.split("|"))] = data[name]
            elif kind == "edema_within":
                self.edema_within[parse(rest.split("|"))] = data[name]


@dataclass(frozen=True)
class Appearance:
    """What a patient's body contributes to the film, besides pathology (the invariants)."""

    body_scale: float = 1.0
    breast_mm: float = 0.0  # soft-tissue thickness of the breast shadows (the sex proxy)
    bone_density: float = 1.0  # the age proxy
    habitus: float = 1.0  # soft-tissue thickness factor
    heart_scale: float = 1.0  # baseline heart size


class Renderer:
    """state + appearance + acquisition -> (film in [0, 1], structure bits), at any output size."""

    def __init__(self, library: EditLibrary):
        self.library = library
        self.anatomy = library.anatomy
        nz, nx = library.shape
        z_mm = (np.arange(nz) + 0.5) * self.anatomy.spacing[0]
        x_mm = (np.arange(nx) + 0.5) * self.anatomy.spacing[2]
        self._breast_grid = (z_mm[:, None], x_mm[None, :])
        lungs = (library.anatomy_bits & 0b11) > 0
        rows = np.nonzero(lungs.any(axis=1))[0]
        self._breast_center_z = (rows.min() + 0.28 * (rows.max() - rows.min())) * self.anatomy.spacing[0]
        columns = np.nonzero(lungs.any(axis=0))[0]
        self._breast_offset = 0.33 * (columns.max() - columns.min()) * self.anatomy.spacing[2]
        self._center_x = 0.5 * (columns.max() + columns.min() + 1) * self.anatomy.spacing[2]

    def line_integral(self, state, appearance: Appearance) -> np.ndarray:
        """Projected attenuation [z, x] (mm of water) for a pathology state."""
        lib = self.library
        total = lib.base_soft * appearance.habitus + lib.base_bone * appearance.bone_density
        total = total + self._breasts(appearance.breast_mm)
        total = total + self._heart_delta(appearance.heart_scale * (1.0 + CARDIOMEGALY_GROWTH[state.cardiomegaly]))
        replaced = []
        for side in ("left", "right"):
            for kind in ("effusion", "pneumothorax"):
                level = getattr(state, f"{kind}_{side}")
                if level:
                    replaced.append((kind, side, level))
        for kind in ("consolidation", "atelectasis"):
            lobe, level = getattr(state, f"{kind}_lobe"), getattr(state, kind)
            if lobe and level:
                replaced.append((kind, lobe, level))
        for key in replaced:
            total = total + lib.deltas[key]
        if state.edema:
            edema = lib.deltas[("edema_unit",)]
            for key in replaced:
                edema = edema - lib.edema_within[key]
            total = total + EDEMA_HU[state.edema] * edema
        return total

    def structure_bits(self, state, appearance: Appearance) -> np.ndarray:
        lib = self.library
        scale = appearance.heart_scale * (1.0 + CARDIOMEGALY_GROWTH[state.cardiomegaly])
        level = int(np.argmin(np.abs(HEART_LEVELS - scale)))
        bits = lib.anatomy_bits | (lib.heart_masks[level].astype(np.uint16) << 2)
        for key in self._regions_of(state):
            bits = bits | (lib.regions[key].astype(np.uint16) << PATHOLOGY_BITS[key[0]])
        if state.edema:
            bits = bits | (lib.regions[("edema",)].astype(np.uint16) << PATHOLOGY_BITS["edema"])
        if state.cardiomegaly:
            baseline = int(np.argmin(np.abs(HEART_LEVELS - appearance.heart_scale)))
            grown = lib.heart_masks[level] & ~lib.heart_masks[baseline]
            bits = bits | (grown.astype(np.uint16) << PATHOLOGY_BITS["cardiomegaly"])
        return bits

    def render(self, state, appearance: Appearance, acquisition: Acquisition, size: int = 256,
               with_bits: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        coordinates = self._sampling_grid(appearance, acquisition, size)
        # Beyond the CT's field (neck, arms, abdomen), the nearest edge continues the anatomy.
        integral = ndimage.map_coordinates(self.line_integral(state, appearance), coordinates, order=1, mode="nearest")
        film = self._film(integral.reshape(size, size), acquisition)
        bits = None
        if with_bits:
            sampled = ndimage.map_coordinates(self.structure_bits(state, appearance), coordinates, order=0, mode="nearest")
            bits = sampled.reshape(size, size).astype(np.uint16)
        return film, bits

    # -------------------------------------------------------------- pieces

    def _regions_of(self, state):
        for side in ("left", "right"):
            for kind in ("effusion", "pneumothorax"):
                level = getattr(state, f"{kind}_{side}")
                if level:
                    yield (kind, side, level)
        for kind in ("consolidation", "atelectasis"):
            lobe, level = getattr(state, f"{kind}_lobe"), getattr(state, kind)
            if lobe and level:
                yield (kind, lobe, level)

    def _heart_delta(self, scale: float) -> np.ndarray:
        scale = float(np.clip(scale, HEART_LEVELS[0], HEART_LEVELS[-1]))
        upper = int(np.clip(np.searchsorted(HEART_LEVELS, scale), 1, len(HEART_LEVELS) - 1))
        low, high = HEART_LEVELS[upper - 1], HEART_LEVELS[upper]
        t = (scale - low) / (high - low)
        deltas = self.library.deltas
        return (1 - t) * deltas[("heart", float(low))] + t * deltas[("heart", float(high))]

    def _breasts(self, thickness_mm: float) -> np.ndarray:
        if thickness_mm <= 0:
            return 0.0
        z, x = self._breast_grid
        total = np.zeros((z.shape[0], x.shape[1]), np.float32)
        for sign in (-1, 1):
            dz = (z - self._breast_center_z) / 60.0
            dx = (x - (self._center_x + sign * self._breast_offset)) / 70.0
            r2 = dz**2 + dx**2
            dome = np.sqrt(np.clip(1.0 - r2, 0.0, None))
            dome *= np.clip((z - self._breast_center_z) / 25.0 + 1.4, 0, 1)  # a sharp inferior fold
            total += dome.astype(np.float32)
        return thickness_mm * total

    def _sampling_grid(self, appearance: Appearance, acquisition: Acquisition, size: int) -> np.ndarray:
        centers = (np.arange(size) + 0.5) / size - 0.5
        u = np.broadcast_to(centers[None, :], (size, size))  # to the image's right
        v = np.broadcast_to(-centers[:, None], (size, size))  # to the image's top
        angle = np.deg2rad(acquisition.rotation_deg)
        cos, sin = np.cos(angle), np.sin(angle)
        field = FOV_MM / (appearance.body_scale * acquisition.scale)
        u_rot = (cos * u - sin * v) - acquisition.shift_x
        v_rot = (sin * u + cos * v) - acquisition.shift_y
        x_mm = CENTER_X_MM + u_rot * field
        z_mm = CENTER_Z_MM + v_rot * field
        rows = z_mm / self.anatomy.spacing[0] - 0.5
        columns = x_mm / self.anatomy.spacing[2] - 0.5
        return np.stack([rows.reshape(-1), columns.reshape(-1)])

    @staticmethod
    def _film(integral: np.ndarray, acquisition: Acquisition) -> np.ndarray:
        """Line integral (mm of water) -> film brightness in [0, 1]: a sigmoid characteristic curve.

        Centre and width put aerated lung near 0.35, heart near 0.55, upper abdomen near 0.75 and
        spine near 0.9, as on a PA chest film; exposure shifts the curve, contrast steepens it.
        """
        center, width = 160.0 * acquisition.exposure, 38.0 / acquisition.contrast
        film = 1.0 / (1.0 + np.exp(-(integral - center) / width))
        floor = 1.0 / (1.0 + np.exp(center / width))
        return ((film - floor) / (1.0 - floor)).clip(0.0, 1.0).astype(np.float32)
