"""Who scores the images: four roles (pathology, race, age, anatomy), filled by torchxrayvision's
models on real radiographs or by small models trained on phantom ground truth.

Every evaluator takes images [N, 1, H, W] in [0, 1] and answers:
    pathology(x) -> [N, 5] probabilities for FINDINGS
    race(x)      -> [N, K] class probabilities (`race_classes`)
    age(x)       -> [N] years
    segment(x)   -> [N, S, H, W] bool masks of `structures`
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medjourney_core.errors import ModelLoadError
from medjourney_core.image_io import to_xrv_range

from .metrics import FINDINGS

STRUCTURES = ["left_lung", "right_lung", "heart", "mediastinum", "spine", "diaphragm"]
PHANTOM_DIR = Path(__file__).resolve().parents[1] / "assets" / "evaluators" / "phantom"


# ------------------------------------------------------------------ torchxrayvision (real radiographs)


def _densenet_file() -> str:
    import torchxrayvision as xrv

    return os.path.basename(xrv.models.model_urls["densenet121-res224-all"]["weights_url"])


XRV_FILES = {
    "pathology": None,  # resolved from torchxrayvision's own table (see _xrv_files)
    "race": "resnet_race_detection_val-loss_0.157_mimic_public.pt",
    "age": "baseline_models_riken_xray_age_every_model_age_senet154_v2_tl_26_ft_7_fp32.pt",
    "anatomy": "pspnet_chestxray_best_model_4.pth",
}
XRV_STRUCTURES = {"left_lung": "Left Lung", "right_lung": "Right Lung", "heart": "Heart", "mediastinum": "Mediastinum",
                  "spine": "Spine", "diaphragm": "Facies Diaphragmatica"}
XRV_FINDINGS = {"Atelectasis": "Atelectasis", "Cardiomegaly": "Cardiomegaly", "Edema": "Edema",
                "Pleural Effusion": "Effusion", "Pneumothorax": "Pneumothorax"}


def xrv_cache_dir() -> Path:
    return Path(os.path.expanduser(os.path.join("~", ".torchxrayvision", "models_data")))


def _xrv_files() -> dict[str, str]:
    return {**XRV_FILES, "pathology": _densenet_file()}


def missing_xrv_weights() -> list[str]:
    """Which weight files are absent from torchxrayvision's cache (nothing is downloaded here)."""
    return [f"{role}: {xrv_cache_dir() / name}" for role, name in _xrv_files().items()
            if not (xrv_cache_dir() / name).is_file()]


class XRVEvaluators:
    name = "xrv"
    race_classes = ["Asian", "Black", "White"]
    structures = STRUCTURES

    def __init__(self, device: str = "cpu"):
        missing = missing_xrv_weights()
        if missing:
            raise ModelLoadError(
                "torchxrayvision weights are not in its cache, and nothing is downloaded here. Missing: "
                + "; ".join(missing) + ". Copy them there from a machine with internet (they are the files "
                "torchxrayvision downloads on first use)."
            )
        import torchxrayvision as xrv

        self.device = device
        self.classifier = xrv.models.DenseNet(weights="densenet121-res224-all").to(device).eval()
        self.race_model = xrv.baseline_models.emory_hiti.RaceModel().to(device).eval()
        self.age_model = xrv.baseline_models.riken.AgeModel().to(device).eval()
        self.segmenter = xrv.baseline_models.chestx_det.PSPNet().to(device).eval()

    def pathology_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """Differentiable [N, 5] scores (for saliency maps)."""
        x = F.interpolate(to_xrv_range(images).to(self.device), size=(224, 224), mode="bilinear", antialias=True)
        scores = self.classifier(x)
        columns = [self.classifier.pathologies.index(XRV_FINDINGS[f]) for f in FINDINGS]
        return scores[:, columns]

    @torch.no_grad()
    def pathology(self, images: torch.Tensor) -> np.ndarray:
        return self.pathology_tensor(images).cpu().numpy()

    @torch.no_grad()
    def race(self, images: torch.Tensor) -> np.ndarray:
        return torch.exp(self.race_model(to_xrv_range(images).to(self.device))).cpu().numpy()  # LogSoftmax outputs

    @torch.no_grad()
    def age(self, images: torch.Tensor) -> np.ndarray:
        return self.age_model(to_xrv_range(images).to(self.device)).reshape(-1).cpu().numpy()

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> np.ndarray:
        logits = self.segmenter(to_xrv_range(images).to(self.device))
        logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear")
        columns = [self.segmenter.targets.index(XRV_STRUCTURES[s]) for s in STRUCTURES]
        return (torch.sigmoid(logits[:, columns]) > 0.5).cpu().numpy()


# ------------------------------------------------------------------ phantom evaluators


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class PhantomClassifier(nn.Module):
    """A small CNN with three heads: the five findings, the sex proxy (race slot), and age.

    A strided stem halves the 128 px input first: the full-resolution convolutions cost most of the
    compute and the findings are tens of pixels wide."""

    def __init__(self, width: int = 24):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 5, stride=2, padding=2), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        channels = [width, width, 2 * width, 4 * width, 4 * width]
        self.backbone = nn.Sequential(*[nn.Sequential(_block(a, b), nn.MaxPool2d(2)) for a, b in zip(channels, channels[1:])])
        self.pathology = nn.Linear(channels[-1] * 2, len(FINDINGS))
        self.sex = nn.Linear(channels[-1] * 2, 2)
        self.age = nn.Linear(channels[-1] * 2, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(self.stem(x * 2 - 1))
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        return {"pathology": self.pathology(pooled), "sex": self.sex(pooled), "age": 60 + 20 * self.age(pooled)[:, 0]}


class PhantomSegmenter(nn.Module):
    """A small U-Net for the six structures the paper segments; it works at half the input resolution
    (the structures are large) and returns logits at the input's."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.down = nn.ModuleList([_block(1, width), _block(width, 2 * width), _block(2 * width, 4 * width)])
        self.up = nn.ModuleList([_block(6 * width, 2 * width), _block(3 * width, width)])
        self.head = nn.Conv2d(width, len(STRUCTURES), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = F.avg_pool2d(x * 2 - 1, 2)
        for index, block in enumerate(self.down):
            h = block(h)
            if index < len(self.down) - 1:
                skips.append(h)
                h = F.max_pool2d(h, 2)
        for block in self.up:
            h = block(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), skips.pop()], dim=1))
        return F.interpolate(self.head(h), size=x.shape[-2:], mode="bilinear")


class PhantomEvaluators:
    name = "phantom"
    race_classes = ["F", "M"]  # the phantom's sex proxy fills the race slot
    structures = STRUCTURES
    resolution = 128

    def __init__(self, folder: str | Path = PHANTOM_DIR, device: str = "cpu"):
        folder = Path(folder)
        if not (folder / "classifier.safetensors").is_file():
            raise ModelLoadError(
                f"The phantom evaluators are not trained yet ({folder} is empty): run `python -m evaluate.train_evaluators`."
            )
        from safetensors.torch import load_file

        self.device = device
        self.classifier, self.segmenter = PhantomClassifier(), PhantomSegmenter()
        try:
            self.classifier.load_state_dict(load_file(folder / "classifier.safetensors"))
            self.segmenter.load_state_dict(load_file(folder / "segmenter.safetensors"))
        except (RuntimeError, OSError) as error:
            raise ModelLoadError(f"The phantom evaluators in {folder} do not load ({str(error).splitlines()[0]}): they were "
                                 "saved by another version; retrain them with `python -m evaluate.train_evaluators`.") from None
        self.classifier.to(device).eval()
        self.segmenter.to(device).eval()
        self.report = json.loads((folder / "report.json").read_text()) if (folder / "report.json").is_file() else {}

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        return F.interpolate(images.float(), size=(self.resolution,) * 2, mode="bilinear", antialias=True).to(self.device)

    @torch.no_grad()
    def _heads(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.classifier(self._input(images))

    def pathology_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """Differentiable [N, 5] probabilities (for saliency maps)."""
        return torch.sigmoid(self.classifier(self._input(images))["pathology"])

    def pathology(self, images: torch.Tensor) -> np.ndarray:
        return torch.sigmoid(self._heads(images)["pathology"]).cpu().numpy()

    def race(self, images: torch.Tensor) -> np.ndarray:
        return torch.softmax(self._heads(images)["sex"], dim=1).cpu().numpy()

    def age(self, images: torch.Tensor) -> np.ndarray:
        return self._heads(images)["age"].cpu().numpy()

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> np.ndarray:
        logits = self.segmenter(self._input(images))
        logits = F.interpolate(logits, size=images.shape[-2:], mode="bilinear")
        return (logits > 0).cpu().numpy()


def load_evaluators(kind: str, device: str = "cpu", folder: str | Path | None = None):
    if kind == "xrv":
        return XRVEvaluators(device)
    if kind == "phantom":
        return PhantomEvaluators(folder or os.environ.get("MEDJOURNEY_PHANTOM_EVALUATORS") or PHANTOM_DIR, device)
    raise ModelLoadError(f"Unknown evaluators '{kind}' (xrv or phantom).")
