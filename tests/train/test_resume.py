"""A stage interrupted after a checkpoint and resumed ends with the same weights as an uninterrupted run."""

import json

import pytest
from transformers import TrainerCallback

from tests.train.synthetic import SyntheticDataset
from unipixel.train.run import build_stage, run_stage
from unipixel.train.trainer import unwrap_peft


class Crash(RuntimeError):
    pass


class CrashAfter(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Crash(f"simulated failure after step {self.step}")


def trained_state(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("stage", ["stage2", "stage3"])
def test_resume_matches_uninterrupted(tiny_experiment, tmp_path, stage):
    kinds = ("seg_image", "seg_video") if stage == "stage2" else ("seg_image", "ref_point", "region_video")
    data = SyntheticDataset(8, kinds)
    steps = [f"stages.{stage}.max_steps=4", f"stages.{stage}.save_steps=2", f"stages.{stage}.global_batch_size=2"]
    steps.append("stages.stage3.partial_checkpoints=[]")

    straight_cfg = tiny_experiment(steps + [f"output_dir={tmp_path / 'straight'}"])
    straight, _, _ = build_stage(straight_cfg, stage, dataset=data)
    straight.train()
    expected = trained_state(straight)

    cfg = tiny_experiment(steps + [f"output_dir={tmp_path / 'resumed'}"])
    first, _, out_dir = build_stage(cfg, stage, dataset=data)
    first.add_callback(CrashAfter(3))
    with pytest.raises(Crash):
        first.train()
    assert (out_dir / "checkpoint-2" / "partial_model.safetensors").exists()
    if stage == "stage3":
        assert (out_dir / "checkpoint-2" / "adapter_model.safetensors").exists()
        assert unwrap_peft(first.model) is not None
    second, _, _ = build_stage(cfg, stage, dataset=data)
    second.train(resume_from_checkpoint=str(out_dir / "checkpoint-2"))
    assert second.state.global_step == 4
    got = trained_state(second)
    assert got.keys() == expected.keys()
    worst = max(float((got[k].float() - expected[k].float()).abs().max()) for k in expected)
    assert worst <= 1e-6, f"resumed weights differ by {worst}"


def test_run_stage_resumes_automatically(tiny_experiment, tmp_path):
    data = SyntheticDataset(4, ("seg_image",))
    cfg = tiny_experiment(["stages.stage2.max_steps=2", "stages.stage2.save_steps=2"])
    out = run_stage(cfg, "stage2", dataset=data)
    assert (out / "checkpoint-2").is_dir()
    cfg = tiny_experiment(["stages.stage2.max_steps=3", "stages.stage2.save_steps=3"])
    out = run_stage(cfg, "stage2", dataset=data)
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    steps_logged = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert state["global_step"] == 3 and steps_logged == [1, 2, 3], "continued from step 2 with its history"
