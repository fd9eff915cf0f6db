"""Sharded, resumable inference and re-runnable scoring on a benchmark in its released layout (toy RefCOCO)."""

import json

import numpy as np
import pytest

from tests.helpers import force_token
from unipixel.data.toy import SMALL, make_toy_data
from unipixel.eval.benchmarks.image_seg import ImageSegEvaluator
from unipixel.eval.runner import decode_masks, encode_masks, load_predictions, run_predictions, score_predictions
from unipixel.inference import Predictor


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    make_toy_data(root, seed=0, **SMALL)
    return root


@pytest.fixture
def predictor(tiny_model, processor):
    model = tiny_model.eval()
    force_token(model, model.config.seg_token_id)  # the random model answers with a <|seg|>, so masks are produced
    return Predictor(model, processor)


class Counting:
    """Wraps a predictor: counts calls, optionally fails after `fail_after` of them."""

    def __init__(self, inner, fail_after=None):
        self.inner, self.calls, self.fail_after = inner, 0, fail_after

    def predict_sample(self, sample, **kwargs):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        return self.inner.predict_sample(sample, **kwargs)


def test_rle_round_trip():
    rng = np.random.default_rng(0)
    masks = rng.random((2, 3, 7, 9)) > 0.5
    assert np.array_equal(decode_masks(encode_masks(masks)), masks)


def test_resume_and_shards_score_the_same(toy_root, predictor, tmp_path):
    evaluator = ImageSegEvaluator("val", "refcoco", root=str(toy_root), max_new_tokens=2)
    limit = 6
    straight = run_predictions(evaluator, Counting(predictor), tmp_path / "a", limit=limit, progress=False)
    expected = score_predictions(evaluator, tmp_path / "a")
    assert expected["num_samples"] == limit and expected["metrics"]["refcoco/val/no_seg_rate"] == 0.0
    assert straight.name == "predictions.shard0-of-1.jsonl"

    killed = Counting(predictor, fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_predictions(evaluator, killed, tmp_path / "b", limit=limit, progress=False)
    with pytest.raises(RuntimeError, match="4 of 6 samples have no prediction"):
        score_predictions(evaluator, tmp_path / "b")
    restarted = Counting(predictor)
    run_predictions(evaluator, restarted, tmp_path / "b", limit=limit, progress=False)
    assert restarted.calls == 4, "only the missing samples run again"
    assert score_predictions(evaluator, tmp_path / "b")["metrics"] == expected["metrics"]

    for shard in (0, 1):
        run_predictions(
            evaluator, Counting(predictor), tmp_path / "c", shard=shard, num_shards=2, limit=limit, progress=False
        )
    files = sorted(p.name for p in (tmp_path / "c" / "refcoco" / "val").glob("*.jsonl"))
    assert files == ["predictions.shard0-of-2.jsonl", "predictions.shard1-of-2.jsonl"]
    merged = score_predictions(evaluator, tmp_path / "c")
    assert merged["metrics"] == expected["metrics"]
    # scoring is re-runnable and records what produced the numbers
    again = score_predictions(evaluator, tmp_path / "c")
    assert again["metrics"] == merged["metrics"]
    run = json.loads((tmp_path / "c" / "refcoco" / "val" / "results.json").read_text())["run"]
    assert run["benchmark"] == "refcoco" and run["split"] == "val" and "code_version" in run


def test_truncated_line_is_ignored(toy_root, predictor, tmp_path):
    evaluator = ImageSegEvaluator("val", "refcoco", root=str(toy_root), max_new_tokens=2)
    path = run_predictions(evaluator, predictor, tmp_path, limit=2, progress=False)
    with open(path, "a") as f:
        f.write('{"key": "0000002", "text": "cut in')
    assert sorted(load_predictions(path.parent)) == ["0000000", "0000001"]


def test_checkpoint_mismatch_refused(toy_root, predictor, tmp_path):
    evaluator = ImageSegEvaluator("val", "refcoco", root=str(toy_root), max_new_tokens=2)
    run_predictions(evaluator, predictor, tmp_path, limit=1, info={"checkpoint": "a"}, progress=False)
    with pytest.raises(RuntimeError, match="holds predictions of checkpoint a"):
        run_predictions(evaluator, predictor, tmp_path, limit=1, info={"checkpoint": "b"}, progress=False)


def test_unknown_split_is_an_error_listing_the_valid_ones(toy_root, predictor, tmp_path):
    evaluator = ImageSegEvaluator("vall", "refcoco", root=str(toy_root), max_new_tokens=2)
    with pytest.raises(ValueError, match=r"refcoco has no split 'vall'; valid splits of refcoco: val, testA, testB"):
        run_predictions(evaluator, predictor, tmp_path, limit=2, progress=False)
    with pytest.raises(ValueError, match="no split 'vall'"):
        score_predictions(evaluator, tmp_path)
    assert not list(tmp_path.rglob("results.json")) and not list(tmp_path.rglob("*.jsonl"))


def test_empty_benchmark_is_an_error(predictor, tmp_path):
    class Empty(ImageSegEvaluator):
        def build_dataset(self):
            return []

    evaluator = Empty("testB", "refcoco", root=str(tmp_path / "data"))
    with pytest.raises(ValueError, match=r"refcoco/testB: no samples under the data root .*valid splits of refcoco"):
        run_predictions(evaluator, predictor, tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="no samples"):
        score_predictions(evaluator, tmp_path / "out")
    assert not (tmp_path / "out" / "refcoco" / "testB" / "results.json").exists()


def test_every_benchmark_config_lists_its_evaluator_splits():
    """The `Splits:` header of each configs/benchmark YAML (what scripts/eval_all.sh runs) is the evaluator's list."""
    import re

    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from tests.conftest import REPO

    for path in sorted((REPO / "configs" / "benchmark").glob("*.yaml")):
        header = path.read_text().splitlines()[0]  # read as scripts/eval_all.sh reads it
        listed = re.sub(r"\([^)]*\)", "", re.search(r"Splits?: *(.*)", header).group(1)).replace(",", " ").split()
        cfg = OmegaConf.load(path)
        cls = get_class(cfg._target_)
        splits = getattr(cls, "splits", ())
        if cls is ImageSegEvaluator:
            from unipixel.eval.benchmarks.image_seg import SPLITS

            splits = SPLITS[cfg.dataset]
        assert list(splits) == listed, path.name
