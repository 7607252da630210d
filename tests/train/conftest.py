import pytest
import yaml

from medjourney_core.phantom.export import export
from train.prepare import Options, prepare

TINY = {
    "model": {
        "init": "scratch",
        "vae_architecture": {"in_channels": 1, "out_channels": 1, "block_out_channels": [8, 16, 16, 16],
                             "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 8,
                             "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4},
        "text_max_length": 32,
        "unet": {"block_out_channels": [32, 64], "layers_per_block": 1,
                 "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
                 "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "cross_attention_dim": 32,
                 "attention_head_dim": 8, "norm_num_groups": 8},
    },
    "resolution": 64, "crop_margin": 16, "batch_size": 4, "learning_rate": 1.0e-3, "checkpoint_every": 5,
    "keep_checkpoints": 3, "validate_every": 0, "validation_samples": 2, "validation_steps": 2,
}


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, phantom):
    root = tmp_path_factory.mktemp("train-data")
    export(root / "phantom", 16, 3, seed=31, size=96, progress=False, simulator=phantom)
    prepare(Options(mimic_root=root / "phantom", out=root / "prep", workers=1, size=96, progress=False))
    return root / "prep"


@pytest.fixture
def tiny_config(tmp_path):
    def write(**overrides):
        data = {**TINY, **overrides}
        path = tmp_path / f"tiny-{len(list(tmp_path.glob('tiny-*.yaml')))}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write
