"""Two CPU processes (torchrun, gloo) train a stage in step: same weights on both ranks, batches split between them."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO


def test_two_process_stage(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", WANDB_MODE="offline", PYTHONPATH=str(REPO))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        str(REPO / "tests" / "train" / "ddp_stage.py"),
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["backend"] == "gloo" for r in ranks)
    # global batch 4 = 2 processes x 1 per device x accumulation 2
    assert [r["accumulation"] for r in ranks] == [2, 2] and [r["steps"] for r in ranks] == [2, 2]
    assert ranks[0]["digest"] == ranks[1]["digest"], "ranks must hold identical weights after each step"
    a, b = ranks[0]["samples"], ranks[1]["samples"]
    assert len(a) == len(b) == 4 and len(set(a) | set(b)) == 8, "the 8 samples are split between the ranks"
    # SyntheticDataset alternates seg_image / seg_video by index parity: same data type on both ranks per micro-step
    assert [int(x[1:]) % 2 for x in a] == [int(x[1:]) % 2 for x in b]
