import pytest
from hydra import compose, initialize_config_dir

import unipixel.model  # noqa: F401  (sam2 first: its Hydra state must not leak into ours)
from tests.conftest import REPO


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


@pytest.fixture
def tiny_experiment(tmp_path):
    """The release's three-stage experiment on the tiny model, shrunk to a few CPU steps."""

    def make(extra: list[str] | None = None):
        stage_overrides = []
        for stage in ("stage1", "stage2", "stage3"):
            stage_overrides += [
                f"stages.{stage}.global_batch_size=2",
                f"stages.{stage}.max_steps=3",
                f"stages.{stage}.save_steps=100",
                f"stages.{stage}.learning_rate=1e-2",
            ]
        return compose_train(
            [
                "experiment=unipixel_3b",
                "model=tiny",
                "hardware=cpu",
                f"output_dir={tmp_path}",
                "train.report_to=[]",
                "train.dataloader_num_workers=0",
                "train.logging_steps=1",
                "train.disable_tqdm=true",
                "stages.stage3.lora.r=4",
                "stages.stage3.lora.alpha=8",
                "stages.stage3.sam2_learning_rate=1e-3",
                *stage_overrides,
                *(extra or []),
            ]
        )

    return make
