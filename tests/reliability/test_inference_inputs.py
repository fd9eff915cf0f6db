"""Loading errors and the inference CLI: a missing model folder or one without `config.json` fails at once naming the
folder (before: a Hub lookup error, or the full-size default configuration built in memory until an out-of-memory
kill), a cut weight shard is named; CLI errors are one line with exit status 1 (`--debug`: the traceback); `[k]`
without a prompt k and empty questions are refused; `--point -5,-5` parses."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.inference.helpers import load_tool, scene_frames
from unipixel.inference import Predictor, VisualPrompt
from unipixel.utils.model_folder import ModelFolderError

REPO = Path(__file__).resolve().parents[2]


def error_lines(err: str) -> int:
    """Lines of the error report (transformers' loading progress bar may precede it on stderr)."""
    lines = [line for line in err.splitlines() if line.strip() and "Loading weights" not in line]
    assert all(line.startswith("error: ") for line in lines), lines
    return len(lines)


@pytest.fixture
def copy_of(released_checkpoint, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(released_checkpoint, folder)
    return folder


@pytest.fixture(scope="module")
def cli():
    return load_tool("inference")


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "scene.png"
    Image.fromarray(scene_frames(1)[0]).save(path)
    return path


def test_folder_without_config_fails_fast_naming_it(copy_of, capsys):
    (copy_of / "config.json").unlink()
    start = time.perf_counter()
    with pytest.raises(ModelFolderError, match=rf"{copy_of} has no config.json, so it is not a model folder"):
        Predictor.from_pretrained(copy_of, device="cpu")
    seconds = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nPredictor.from_pretrained on a folder without config.json: failed in {seconds:.3f} s")
    assert seconds < 5


def test_missing_folder_says_how_to_get_the_weights(tmp_path):
    with pytest.raises(ModelFolderError, match=r"no such model folder: .*nowhere; download .*hf download"):
        Predictor.from_pretrained(tmp_path / "nowhere", device="cpu")


def test_cut_weight_shard_is_named(copy_of):
    weights = sorted(copy_of.glob("model*.safetensors"))[-1]
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelFolderError, match=rf"model folder {copy_of}: {weights.name} is truncated"):
        Predictor.from_pretrained(copy_of, device="cpu")


def test_cli_on_a_folder_without_config_is_one_line_in_under_5_s(copy_of, image, capsys):
    (copy_of / "config.json").unlink()
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's code, whatever is installed
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "tools/inference.py", str(image), "What is this?", "--model", str(copy_of)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    seconds = time.perf_counter() - start
    with capsys.disabled():
        print(f"\ntools/inference.py --model <folder without config.json>: exit {done.returncode} in {seconds:.2f} s")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"{copy_of} has no config.json" in done.stderr, done.stderr
    assert seconds < 5


@pytest.mark.parametrize(
    ("question", "prompts", "match"),
    [
        ("Is [0] bigger than [1]?", ["--point", "20,20"], r"mentions \[1\] but 1 visual prompt\(s\) were given"),
        ("   ", [], "the question is empty"),
        ("What is [0]?", [], r"mentions \[0\] but 0 visual prompt"),
    ],
)
def test_cli_refuses_bad_questions_in_one_line(cli, released_checkpoint, image, capsys, question, prompts, match):
    argv = [str(image), question, *prompts, "--model", str(released_checkpoint), "--no-progress"]
    assert cli.cli(argv) == 1
    err = capsys.readouterr().err
    assert error_lines(err) == 1 and "Traceback" not in err
    assert __import__("re").search(match, err), err
    with pytest.raises(ValueError, match=match):
        cli.cli([*argv, "--debug"])


def test_predictor_refuses_unmatched_mentions(released_checkpoint, image):
    predictor = Predictor.from_pretrained(released_checkpoint, device="cpu")
    with pytest.raises(ValueError, match=r"mentions \[1\]"):
        predictor.build_sample(str(image), "Is [0] bigger than [1]?", [VisualPrompt.point(5, 5)])
    with pytest.raises(ValueError, match="empty"):
        predictor.build_sample(str(image), "", [])


def test_negative_point_parses(cli, released_checkpoint, image, capsys, tmp_path):
    """Before: argparse took "-5,-5" for an option ("expected one argument"); now it is a point, refused as outside
    the media by the predictor, in one line."""
    argv = [str(image), "What is [0]?", "--point", "-5,-5", "--model", str(released_checkpoint), "--out", str(tmp_path)]
    assert cli.cli([*argv, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "visual prompt 0 (point): (-5.0, -5.0) outside" in err and error_lines(err) == 1
    assert cli.attach_values(["--box", "-1,2,3,4", "--point", "3,4"]) == ["--box=-1,2,3,4", "--point", "3,4"]


def test_training_from_a_folder_without_config_fails_fast(copy_of, tiny_experiment):
    from unipixel.train.run import run_stage

    (copy_of / "config.json").unlink()
    cfg = tiny_experiment([f"model.path={copy_of}"])
    start = time.perf_counter()
    with pytest.raises(ModelFolderError, match=rf"{copy_of} has no config.json"):
        run_stage(cfg, "stage2")
    assert time.perf_counter() - start < 5
