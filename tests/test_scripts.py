"""The training launchers: valid bash, the torchrun commands they build (DRY_RUN=1), GPU counting, stopping at a
failed stage, and Hydra overrides that compose into the stage they name."""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest
from hydra import compose, initialize_config_dir

from tests.conftest import REPO

SCRIPTS = {"3b": REPO / "scripts" / "train_3b.sh", "7b": REPO / "scripts" / "train_7b.sh"}
LAUNCH_ENV = ("NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "NPROC_PER_NODE", "EXPERIMENT", "OUTPUT_DIR")
LAUNCH_ENV += ("STAGES", "SKIP_EVAL", "DRY_RUN", "TORCHRUN", "CUDA_VISIBLE_DEVICES")


def run_script(size: str, args=(), path_prefix: str | None = None, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}
    if path_prefix:
        base["PATH"] = f"{path_prefix}:{base['PATH']}"
    return subprocess.run(
        ["bash", str(SCRIPTS[size]), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def commands(proc: subprocess.CompletedProcess) -> list[list[str]]:
    assert proc.returncode == 0, proc.stderr
    return [shlex.split(line) for line in proc.stdout.splitlines() if line.strip()]


def torchrun_options(cmd: list[str]) -> tuple[dict[str, str], list[str]]:
    """`--option value` pairs before `-m unipixel.train`, and the Hydra overrides after it."""
    module = cmd.index("-m")
    assert cmd[module + 1] == "unipixel.train"
    opts = cmd[1:module]
    return dict(zip(opts[::2], opts[1::2])), cmd[module + 2 :]


@pytest.mark.parametrize("size", ["3b", "7b"])
def test_bash_syntax(size):
    subprocess.run(["bash", "-n", str(SCRIPTS[size])], check=True)


def test_three_stages_then_eval():
    proc = run_script("3b", ["stages.stage3.lora.r=64", "train.logging_steps=5"], DRY_RUN="1", NPROC_PER_NODE="8")
    cmds = commands(proc)
    assert len(cmds) == 4
    for stage, cmd in zip(("stage1", "stage2", "stage3"), cmds):
        assert cmd[0] == "torchrun"
        opts, overrides = torchrun_options(cmd)
        assert opts == {
            "--nnodes": "1",
            "--node_rank": "0",
            "--master_addr": "127.0.0.1",
            "--master_port": "29500",
            "--nproc_per_node": "8",
        }
        assert overrides == [
            "experiment=unipixel_3b",
            "output_dir=work_dirs/unipixel_3b",
            f"run_stages=[{stage}]",
            "stages.stage3.lora.r=64",
            "train.logging_steps=5",
        ]
    assert cmds[3] == ["bash", str(REPO / "scripts" / "eval_all.sh"), "work_dirs/unipixel_3b/stage3"]


def test_multi_node_and_7b():
    env = dict(DRY_RUN="1", NNODES="2", NODE_RANK="1", MASTER_ADDR="10.0.0.7", MASTER_PORT="1234", NPROC_PER_NODE="4")
    cmds = commands(run_script("7b", **env))
    assert len(cmds) == 3, "only node 0 evaluates"
    opts, overrides = torchrun_options(cmds[0])
    assert opts == {
        "--nnodes": "2",
        "--node_rank": "1",
        "--master_addr": "10.0.0.7",
        "--master_port": "1234",
        "--nproc_per_node": "4",
    }
    assert overrides == ["experiment=unipixel_7b", "output_dir=work_dirs/unipixel_7b", "run_stages=[stage1]"]
    cmds = commands(run_script("7b", DRY_RUN="1", NPROC_PER_NODE="8", STAGES="stage3", OUTPUT_DIR="/tmp/run7"))
    assert [torchrun_options(c)[1][2] for c in cmds[:-1]] == ["run_stages=[stage3]"]
    assert cmds[-1][-1] == "/tmp/run7/stage3"


def test_gpus_per_node_detected(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    smi = fake / "nvidia-smi"
    smi.write_text('#!/bin/sh\nfor i in 0 1 2; do echo "GPU $i: NVIDIA H100 80GB HBM3 (UUID: GPU-$i)"; done\n')
    smi.chmod(0o755)
    cmds = commands(run_script("3b", path_prefix=str(fake), DRY_RUN="1", SKIP_EVAL="1"))
    assert {torchrun_options(c)[0]["--nproc_per_node"] for c in cmds} == {"3"}
    cmds = commands(run_script("3b", path_prefix=str(fake), DRY_RUN="1", SKIP_EVAL="1", CUDA_VISIBLE_DEVICES="0,2"))
    assert {torchrun_options(c)[0]["--nproc_per_node"] for c in cmds} == {"2"}
    cmds = commands(run_script("3b", path_prefix=str(fake), DRY_RUN="1", SKIP_EVAL="1", NPROC_PER_NODE="5"))
    assert {torchrun_options(c)[0]["--nproc_per_node"] for c in cmds} == {"5"}
    proc = run_script("3b", CUDA_VISIBLE_DEVICES="")  # no GPU and no NPROC_PER_NODE: refuse rather than guess
    assert proc.returncode != 0 and "no GPU found" in proc.stderr


def test_runs_stages_in_order_and_stops_at_a_failure(tmp_path):
    log = tmp_path / "calls.log"
    fake = tmp_path / "torchrun"
    fake.write_text(f'#!/bin/sh\necho "$PWD $*" >> {log}\ncase "$*" in *stage2*) exit 3;; esac\n')
    fake.chmod(0o755)
    proc = run_script("3b", TORCHRUN=str(fake), NPROC_PER_NODE="2", SKIP_EVAL="1")
    assert proc.returncode == 3
    calls = log.read_text().splitlines()
    assert len(calls) == 2 and "run_stages=[stage1]" in calls[0] and "run_stages=[stage2]" in calls[1]
    assert all(call.startswith(f"{REPO} ") for call in calls), "stages run from the repository root"


def test_overrides_compose_into_the_named_stage():
    cmds = commands(run_script("3b", ["stages.stage3.lora.r=64"], DRY_RUN="1", NPROC_PER_NODE="8", SKIP_EVAL="1"))
    for stage, cmd in zip(("stage1", "stage2", "stage3"), cmds):
        _, overrides = torchrun_options(cmd)
        with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
            cfg = compose(config_name="train", overrides=overrides)
        assert list(cfg.run_stages) == [stage] and stage in cfg.stages  # what run.selected_stages picks
        assert cfg.output_dir == "work_dirs/unipixel_3b" and cfg.model.name == "unipixel_3b"
        assert cfg.stages.stage3.lora.r == 64
        partials = [f"work_dirs/unipixel_3b/{s}" for s in ("stage1", "stage2")]
        assert list(cfg.stages.stage3.partial_checkpoints) == partials
