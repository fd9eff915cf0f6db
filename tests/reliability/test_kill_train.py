"""Training killed with SIGKILL half-way through a checkpoint save, or through the final export, resumes once to the
weights of an uninterrupted run; a finished stage run again changes nothing; `force=true` trains it again.

Each case runs the stage in fresh processes (about a minute on 2 cores), hence `slow`: `python -m pytest -m slow -s
tests/reliability/test_kill_train.py` prints the weight differences. `test_resume_points.py` checks the same
decisions in-process in the default run.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unipixel.train.resume import STAGE_DONE, checkpoint_problems, checkpoints

pytestmark = pytest.mark.slow

JOB = Path(__file__).with_name("train_job.py")
REPO = Path(__file__).resolve().parents[2]


def run_job(out, stage="stage2", max_steps=6, save_steps=2, *extra) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    cmd = [sys.executable, str(JOB), str(out), stage, str(max_steps), str(save_steps), *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def exported(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "partial_model.safetensors"))


def worst_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    done = run_job(out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "stage2"


def test_kill_during_checkpoint_save_resumes_from_the_previous_complete_one(straight, tmp_path):
    killed = run_job(tmp_path, "stage2", 6, 2, "--kill", "optimizer@4")
    assert killed.returncode == -9, killed.stderr[-3000:]
    folder = tmp_path / "stage2"
    assert [p.name for p in checkpoints(folder)] == ["checkpoint-4", "checkpoint-2"]
    problems = checkpoint_problems(folder / "checkpoint-4")
    assert any("optimizer.pt is truncated" in p for p in problems), problems
    assert not (folder / STAGE_DONE).exists()

    resumed = run_job(tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    skipped = [line for line in resumed.stderr.splitlines() if "skipping incomplete checkpoint" in line]
    assert len(skipped) == 1 and "checkpoint-4: " in skipped[0] and "optimizer.pt is truncated" in skipped[0]
    assert "loaded 5 tensors (seg) from " in resumed.stderr and resumed.stderr.count("checkpoint-2\n") >= 1
    worst = worst_difference(exported(folder), exported(straight))
    print(f"kill mid-checkpoint-save, resumed once: max |weight difference| = {worst:.3g}")
    assert worst <= 1e-6

    before = digests(folder)
    again = run_job(tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "stage stage2 already finished at step 6" in again.stderr and "nothing to do" in again.stderr
    assert digests(folder) == before, "a finished stage run again changed files"


def test_kill_during_final_export_exports_without_training_further(straight, tmp_path):
    killed = run_job(tmp_path, "stage2", 6, 2, "--kill", "export")
    assert killed.returncode == -9, killed.stderr[-3000:]
    folder = tmp_path / "stage2"
    assert not (folder / STAGE_DONE).exists() and not (folder / "partial_model.safetensors").exists()
    resumed = run_job(tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "checkpoint-6 is already at the last step" in resumed.stderr
    assert [p.name for p in checkpoints(folder)] == ["checkpoint-6", "checkpoint-4"], "no step past the limit"
    assert not (folder / ".export-staging").exists()
    worst = worst_difference(exported(folder), exported(straight))
    print(f"kill mid-export, resumed once: max |weight difference| = {worst:.3g}")
    assert worst <= 1e-6


def test_force_trains_a_finished_stage_again(straight, tmp_path):
    assert run_job(tmp_path, "stage2", 2, 2).returncode == 0
    first = exported(tmp_path / "stage2")
    forced = run_job(tmp_path, "stage2", 2, 2, "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert "force=true: moved 1 checkpoint(s)" in forced.stderr
    assert (tmp_path / "stage2" / "checkpoint-2" / "trainer_state.json").is_file()
    assert len(list((tmp_path / "stage2").glob("superseded-*/checkpoint-2"))) == 1
    assert worst_difference(exported(tmp_path / "stage2"), first) <= 1e-6  # same settings, same weights


def full_export(folder: Path) -> dict[str, torch.Tensor]:
    state = {}
    for shard in sorted(folder.glob("model*.safetensors")):
        state.update(load_file(str(shard)))
    return state


def test_stage3_with_lora_killed_mid_save_resumes_to_the_same_merged_model(tmp_path):
    """Stage 3 (LoRA adapter saved in each checkpoint, a full merged model exported at the end)."""
    assert run_job(tmp_path / "a", "stage3", 6, 2).returncode == 0
    killed = run_job(tmp_path / "b", "stage3", 6, 2, "--kill", "optimizer@4")
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert checkpoint_problems(tmp_path / "b/stage3/checkpoint-2", lora=True) == []
    resumed = run_job(tmp_path / "b", "stage3", 6, 2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "skipping incomplete checkpoint" in resumed.stderr
    worst = worst_difference(full_export(tmp_path / "b/stage3"), full_export(tmp_path / "a/stage3"))
    print(f"stage 3 (LoRA) kill mid-checkpoint-save, resumed once: max |weight difference| = {worst:.3g}")
    assert worst <= 1e-6
