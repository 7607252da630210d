import numpy as np
import pytest
import torch
import torchvision

from evaluate import evaluators as ev
from evaluate.evaluators import STRUCTURES, PhantomEvaluators, XRVEvaluators, missing_xrv_weights
from evaluate.train_evaluators import train
from medjourney_core.errors import ModelLoadError


@pytest.fixture(scope="module")
def phantom_evaluators(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluators")
    report = train(folder, patients=6, studies=2, seed=5, steps=3, progress=False)
    assert set(report["pathology_auroc"]) == {"Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion", "Pneumothorax"}
    return PhantomEvaluators(folder)


def test_phantom_evaluators_answer_every_role(phantom_evaluators):
    images = torch.rand(3, 1, 96, 96)
    assert phantom_evaluators.pathology(images).shape == (3, 5)
    race = phantom_evaluators.race(images)
    assert race.shape == (3, 2) and np.allclose(race.sum(1), 1.0, atol=1e-5)
    assert phantom_evaluators.age(images).shape == (3,)
    assert phantom_evaluators.segment(images).shape == (3, len(STRUCTURES), 96, 96)


def test_missing_phantom_evaluators_say_how_to_train_them(tmp_path):
    with pytest.raises(ModelLoadError, match="python -m evaluate.train_evaluators"):
        PhantomEvaluators(tmp_path)


def seed_random_xrv_cache(home):
    """torchxrayvision's four models at random weights, in its cache layout, under a fake home."""
    import torchxrayvision as xrv

    cache = home / ".torchxrayvision" / "models_data"
    cache.mkdir(parents=True)
    names = ev._xrv_files()
    torch.manual_seed(0)
    torch.save(xrv.models.DenseNet(weights=None, num_classes=18), cache / names["pathology"])
    resnet = torchvision.models.resnet34(weights=None)
    resnet.fc = torch.nn.Sequential(torch.nn.Linear(512, 3), torch.nn.LogSoftmax(dim=1))
    torch.save(torch.nn.DataParallel(resnet).state_dict(), cache / names["race"])
    age = torch.jit.script(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1)))
    torch.jit.save(age, str(cache / names["age"]))
    from torchxrayvision.baseline_models.chestx_det.ptsemseg.pspnet import pspnet

    torch.save({f"module.{k}": v for k, v in pspnet(14).state_dict().items()}, cache / names["anatomy"])


def test_xrv_evaluators_plumbing_with_random_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert len(missing_xrv_weights()) == 4
    with pytest.raises(ModelLoadError, match="pspnet_chestxray_best_model_4.pth"):
        XRVEvaluators()
    seed_random_xrv_cache(tmp_path)
    assert missing_xrv_weights() == []
    evaluators = XRVEvaluators()
    images = torch.rand(2, 1, 128, 128)
    pathology = evaluators.pathology(images)
    assert pathology.shape == (2, 5) and np.isfinite(pathology).all()
    race = evaluators.race(images)
    assert race.shape == (2, 3) and np.allclose(race.sum(1), 1.0, atol=1e-4)
    assert evaluators.age(images).shape == (2,)
    assert evaluators.segment(images).shape == (2, len(STRUCTURES), 128, 128)
