"""How a config becomes a stage: `train` passed through to `TrainingArguments` (any field; an unknown one, or one the
builder derives, is a clear error), DeepSpeed JSONs found in the config tree whatever the working directory, stage
configs saved with absolute paths, `evaluation=null` leaving the toy stages intact, pinned threads, and one output
root per run (no Hydra `outputs/<date>/<time>/`)."""

import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import REPO
from tests.train.conftest import compose_train
from tests.train.synthetic import SyntheticDataset
from unipixel.train.run import (
    build_stage,
    configure_determinism,
    resolve_deepspeed,
    save_stage_config,
    stage_training_arguments,
)

TINY = ["experiment=unipixel_3b", "model=tiny", "hardware=cpu", "train.report_to=[]"]


def arguments(tmp_path, extra):
    cfg = compose_train([*TINY, f"output_dir={tmp_path}", *extra])
    return stage_training_arguments(cfg, "stage2", tmp_path / "stage2", per_device=1, accumulation=4)


def test_any_training_argument_passes_through(tmp_path):
    args = arguments(tmp_path, ["+train.adam_beta2=0.95", "+train.eval_strategy=no", "train.logging_steps=3"])
    assert args.adam_beta2 == 0.95 and args.logging_steps == 3
    assert args.gradient_accumulation_steps == 4 and args.output_dir == str(tmp_path / "stage2")


def test_stage_values_win_over_train_defaults(tmp_path):
    args = arguments(tmp_path, ["train.warmup_ratio=0.5", "+stages.stage2.warmup_ratio=0.25"])
    assert (getattr(args, "warmup_ratio", None) or args.warmup_steps) == 0.25
    assert args.learning_rate == compose_train(TINY).stages.stage2.learning_rate


def test_unknown_training_argument_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"train.adam_beta3 is not a transformers.TrainingArguments field .*adam_beta"):
        arguments(tmp_path, ["+train.adam_beta3=0.9"])
    with pytest.raises(ValueError, match=r"train.learning_rate is set by the stage builder; set stages.<stage>"):
        arguments(tmp_path, ["+train.learning_rate=1e-3"])


def test_deepspeed_json_found_in_the_config_tree_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = (REPO / "configs" / "deepspeed" / "zero3.json").resolve()
    assert resolve_deepspeed("configs/deepspeed/zero3.json") == str(expected)
    assert resolve_deepspeed("deepspeed/zero3.json") == str(expected)
    own = tmp_path / "mine.json"
    own.write_text("{}")
    assert resolve_deepspeed("mine.json") == str(own)
    with pytest.raises(FileNotFoundError, match="nothere.json not found; looked for"):
        resolve_deepspeed("nothere.json")


def test_stage_config_is_saved_with_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose_train(
        [
            *TINY,
            "output_dir=run",
            "train.dataloader_num_workers=0",
            "stages.stage3.partial_checkpoints=[run/stage1,run/stage2]",
            "hardware.deepspeed=configs/deepspeed/zero2.json",
        ]
    )
    (tmp_path / "run" / "stage3").mkdir(parents=True)
    save_stage_config(cfg, tmp_path / "run" / "stage3")
    saved = OmegaConf.load(tmp_path / "run" / "stage3" / "config.yaml")
    assert saved.output_dir == str(tmp_path / "run")
    assert list(saved.stages.stage3.partial_checkpoints) == [str(tmp_path / "run/stage1"), str(tmp_path / "run/stage2")]
    assert saved.hardware.deepspeed == str((REPO / "configs/deepspeed/zero2.json").resolve())
    assert os.path.isabs(saved.stages.stage1.data.root)


def test_toy_stages_do_not_need_the_evaluation_block(tmp_path):
    cfg = compose_train(["experiment=toy", f"output_dir={tmp_path}", "evaluation=null"])
    stages = OmegaConf.to_container(cfg.stages, resolve=True)  # raised on ${evaluation.processor} before
    assert stages["stage2"]["data"]["processor"] == {"min_tokens": 16, "max_tokens": 64}
    assert cfg.threads == 2


def test_threads_are_pinned(tmp_path):
    before = torch.get_num_threads()
    try:
        configure_determinism(OmegaConf.create({"threads": 1}))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_build_stage_trains_with_a_passed_through_argument(tmp_path):
    cfg = compose_train([*TINY, f"output_dir={tmp_path}", "train.dataloader_num_workers=0", "+train.adam_epsilon=1e-6"])
    trainer, _, out_dir = build_stage(cfg, "stage2", dataset=SyntheticDataset(2, ("seg_image",)))
    assert trainer.args.adam_epsilon == 1e-6
    assert trainer.create_optimizer().defaults["eps"] == 1e-6


def test_one_output_root_per_run(tmp_path):
    """The entry point writes Hydra's record into the run's output folder, nothing into the working directory."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "unipixel.train", *TINY, f"output_dir={tmp_path / 'run'}", "run_stages=[]"]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(cwd.iterdir()) == [], "nothing written to the working directory (no outputs/<date>/<time>/)"
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()
