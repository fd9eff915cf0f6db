"""Evaluation and judging survive a kill: a cut last line is repaired before appending (the sample is predicted once
more, nothing is glued to it), a resumed run scores like an uninterrupted one, `run_info.json` / `results.json` are
atomic and unreadable files are named; prediction files with a bad line, a line without `key` or a bad RLE are named
errors; `limit` at scoring is obeyed; the judge's cache is repaired the same way and its key never printed."""

import io
import json
import logging
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest

from tests.helpers import force_token
from unipixel.data.toy import SMALL, make_toy_data
from unipixel.eval import judge as judge_module
from unipixel.eval.benchmarks.image_seg import ImageSegEvaluator
from unipixel.eval.judge import JudgeClient, JudgeError, judge_items, load_judgments
from unipixel.eval.runner import PredictionFileError, load_predictions, run_predictions, score_predictions
from unipixel.inference import Predictor

REPO = Path(__file__).resolve().parents[2]
LIMIT = 6


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    make_toy_data(root, seed=0, **SMALL)
    return root


@pytest.fixture
def predictor(tiny_model, processor):
    model = tiny_model.eval()
    force_token(model, model.config.seg_token_id)
    return Predictor(model, processor)


class Counting:
    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def predict_sample(self, sample, **kwargs):
        self.calls += 1
        return self.inner.predict_sample(sample, **kwargs)


def evaluator_for(root):
    return ImageSegEvaluator("val", "refcoco", root=str(root), max_new_tokens=2)


@pytest.fixture(scope="module")
def straight(toy_root, tmp_path_factory):
    """Metrics of an uninterrupted run."""
    out = tmp_path_factory.mktemp("straight")
    evaluator = evaluator_for(toy_root)
    run_predictions(evaluator, fresh_predictor(), out, limit=LIMIT, progress=False)
    return score_predictions(evaluator, out)


def fresh_predictor():
    """The tiny model of seed 0 (the same weights in every call and in `eval_job.py`), answering with a <|seg|>."""
    import torch

    from unipixel.data.processor import PixelProcessor
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.model.tiny import build_tiny_tokenizer, tiny_config

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    model = PixelQwen2_5_VLForConditionalGeneration(tiny_config(tokenizer)).eval()
    force_token(model, model.config.seg_token_id)
    processor = PixelProcessor(tokenizer, sam2_image_size=128, target_frames=8, min_tokens=4, max_tokens=36)
    return Predictor(model, processor)


def test_cut_line_is_repaired_and_one_resume_scores_like_a_straight_run(toy_root, straight, tmp_path, caplog):
    """Before: the resumed run appended onto the cut line, so that sample was lost again and scoring failed."""
    evaluator = evaluator_for(toy_root)
    path = run_predictions(evaluator, fresh_predictor(), tmp_path, limit=3, progress=False)
    full = run_predictions(evaluator, fresh_predictor(), tmp_path / "x", limit=4, progress=False)
    fourth = full.read_text().splitlines()[3]
    with open(path, "a") as f:  # what a kill half-way through writing the fourth line leaves
        f.write(fourth[: len(fourth) // 2])
    counting = Counting(fresh_predictor())
    with caplog.at_level(logging.WARNING):
        run_predictions(evaluator, counting, tmp_path, limit=LIMIT, progress=False)
    assert counting.calls == 3, "the cut sample and the two never started"
    assert "removed an unfinished last line of" in caplog.text
    lines = path.read_text().splitlines()
    assert len(lines) == LIMIT and all(json.loads(line)["key"] for line in lines)
    assert score_predictions(evaluator, tmp_path)["metrics"] == straight["metrics"]


@pytest.mark.slow
def test_sigkill_mid_line_then_one_resume(toy_root, straight, tmp_path):
    """A real kill -9 half-way through the third prediction line, then one resume: the metrics equal an
    uninterrupted run's."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, str(Path(__file__).with_name("eval_job.py")), str(toy_root), str(tmp_path), str(LIMIT)]
    killed = subprocess.run([*cmd, "--kill-at", "3"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    shard = tmp_path / "refcoco/val/predictions.shard0-of-1.jsonl"
    assert not shard.read_bytes().endswith(b"\n"), "the kill left a cut line"
    resumed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "removed an unfinished last line" in resumed.stderr
    got = score_predictions(evaluator_for(toy_root), tmp_path)
    print(f"evaluation killed mid-line, resumed once: {got['metrics']} == {straight['metrics']}")
    assert got["metrics"] == straight["metrics"] and got["num_samples"] == LIMIT


def test_bad_prediction_files_are_named(toy_root, predictor, tmp_path):
    evaluator = evaluator_for(toy_root)
    path = run_predictions(evaluator, predictor, tmp_path, limit=3, progress=False)
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])

    def rewrite(second):
        path.write_text("\n".join([lines[0], second, lines[2]]) + "\n")

    rewrite(json.dumps({k: v for k, v in record.items() if k != "key"}))
    with pytest.raises(PredictionFileError, match=rf"{path}:2: record without a string `key`"):
        score_predictions(evaluator, tmp_path)
    rewrite(lines[1][:-5])  # a cut line in the middle is corruption, not a kill
    with pytest.raises(PredictionFileError, match=rf"{path}:2: not a JSON record"):
        load_predictions(path.parent)
    record["masks"][0][0]["counts"] = record["masks"][0][0]["counts"][:-3]
    rewrite(json.dumps(record))
    with pytest.raises(
        PredictionFileError, match=rf"{path}:2: prediction {record['key']} .*object 0, frame 0: bad RLE"
    ):
        score_predictions(evaluator, tmp_path)


@pytest.mark.parametrize("content", ["", '{"benchmark": "refc'])
def test_unreadable_run_info_is_named(toy_root, predictor, tmp_path, content):
    """Before: a bare JSONDecodeError blocked every later predict and score."""
    evaluator = evaluator_for(toy_root)
    run_predictions(evaluator, predictor, tmp_path, limit=1, progress=False)
    info = tmp_path / "refcoco/val/run_info.json"
    info.write_text(content)
    with pytest.raises(ValueError, match=rf"run information {info} is (empty|not valid JSON).*delete it"):
        score_predictions(evaluator, tmp_path)
    with pytest.raises(ValueError, match="run information"):
        run_predictions(evaluator, predictor, tmp_path, limit=1, progress=False)


def test_run_info_write_is_atomic(toy_root, predictor, tmp_path, monkeypatch):
    evaluator = evaluator_for(toy_root)
    run_predictions(evaluator, predictor, tmp_path, limit=1, info={"checkpoint": "a"}, progress=False)
    info = tmp_path / "refcoco/val/run_info.json"
    before = info.read_bytes()
    from unipixel.utils import files

    def dying_replace(src, dst):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(files.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        run_predictions(evaluator, predictor, tmp_path, limit=2, info={"checkpoint": "a"}, progress=False)
    assert info.read_bytes() == before and not list(info.parent.glob(".run_info.json.tmp-*"))


def test_score_limit_is_obeyed(toy_root, predictor, tmp_path):
    """Before: `mode=score limit=20` scored the 40 samples of an earlier run."""
    evaluator = evaluator_for(toy_root)
    run_predictions(evaluator, predictor, tmp_path, limit=4, progress=False)
    assert score_predictions(evaluator, tmp_path)["num_samples"] == 4
    two = score_predictions(evaluator, tmp_path, limit=2)
    assert two["num_samples"] == two["num_expected"] == 2 and two["limit"] == 2
    with pytest.raises(RuntimeError, match="2 of 6 samples have no prediction"):
        score_predictions(evaluator, tmp_path, limit=6)


# ------------------------------------------------------------------------------------------------ judge
class FakeClient:
    model = "fake"
    signature = {"model": "fake", "temperature": 0.0, "prompt": "x"}

    def __init__(self):
        self.calls = []

    def score(self, question, reference, prediction, name=""):
        self.calls.append(prediction)
        return {d: 3 for d in judge_module.JUDGE_DIMENSIONS}, "ok"


def items(n):
    return [
        {"key": f"{i:07d}", "id": str(i), "question": "q", "reference": "r", "prediction": f"p{i}"} for i in range(n)
    ]


def test_judge_cache_cut_line_is_judged_once_more_not_twice(tmp_path, caplog):
    """Before: the next judgment was appended onto the cut line, so both were lost and paid for again."""
    cache = tmp_path / "judgments.jsonl"
    first = FakeClient()
    judge_items(items(3), cache, first, workers=1)
    text = cache.read_text()
    cache.write_text(text[: len(text) - len(text.splitlines()[-1]) // 2 - 1])  # the third judgment cut half-way
    again = FakeClient()
    with caplog.at_level(logging.WARNING):
        judge_items(items(4), cache, again, workers=1)
    assert sorted(again.calls) == ["p2", "p3"] and "removed an unfinished last line" in caplog.text
    third = FakeClient()
    judge_items(items(4), cache, third, workers=1)
    assert third.calls == [] and sorted(load_judgments(cache)) == [f"{i:07d}" for i in range(4)]


def test_judge_key_never_printed(monkeypatch):
    client = JudgeClient("http://127.0.0.1:9/v1", "judge-x", api_key="sk-secret-123456789", retries=0)
    assert "sk-secret" not in repr(client) and "api_key" not in repr(client)
    body = json.dumps({"error": "bad key", "echo": {"Authorization": "Bearer sk-secret-123456789"}}).encode()

    def refuse(messages):
        raise urllib.error.HTTPError(client.endpoint, 401, "Unauthorized", {}, io.BytesIO(body))

    monkeypatch.setattr(client, "complete", refuse)
    with pytest.raises(JudgeError) as err:
        client.score("q", "r", "p", "sample 0")
    assert "HTTP 401" in str(err.value) and "sk-secret" not in str(err.value) and "***" in str(err.value)
    with pytest.raises(JudgeError, match="carries credentials") as err:
        JudgeClient("https://user:sk-secret-123456789@api.example.com/v1", "judge-x")
    assert "sk-secret" not in str(err.value)
