"""The console scripts `unipixel-train` / `unipixel-eval` (pyproject [project.scripts]) compose the same configs as
`python -m unipixel.train` / `python -m unipixel.eval`, from any working directory."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize(
    "script, module, args, expect",
    [
        ("unipixel-train", "unipixel.train", ["experiment=toy"], "name: toy"),
        ("unipixel-eval", "unipixel.eval", ["benchmark=refcoco", "model.path=tiny"], "ImageSegEvaluator"),
    ],
)
def test_console_script_composes_like_the_module(tmp_path, script, module, args, expect):
    via_module = subprocess.run(
        [sys.executable, "-m", module, *args, "--cfg", "job"], cwd=tmp_path, capture_output=True, text=True
    )
    assert via_module.returncode == 0, via_module.stderr
    assert expect in via_module.stdout
    exe = shutil.which(script)
    if exe is None:
        pytest.skip(f"{script} is not installed in this environment (pip install -e .)")
    via_script = subprocess.run([exe, *args, "--cfg", "job"], cwd=tmp_path, capture_output=True, text=True)
    assert via_script.returncode == 0, via_script.stderr
    assert via_script.stdout == via_module.stdout


def test_eval_without_model_path_says_so(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "unipixel.eval", "benchmark=refcoco"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "model.path is not set: pass model.path=<checkpoint folder>" in done.stderr
    assert "full_key" not in done.stderr and list(tmp_path.iterdir()) == []
