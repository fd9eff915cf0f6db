"""Video evaluators through the runner with streaming (`Predictor.stream_above`): the same prediction records, byte
for byte, and the same metrics as the non-streaming path, on MeViS and ReVOS fixtures in their released layouts
(videos of 10 and 6 frames; the long-video figures are `benchmarks/bench_long_video.py`'s)."""

import json

import pytest

from tests.data import video_fixtures as vf
from tests.helpers import force_token
from unipixel.eval.benchmarks.mevis import MeViSEvaluator
from unipixel.eval.benchmarks.revos import ReVOSEvaluator
from unipixel.eval.runner import run_predictions, score_predictions
from unipixel.inference import Predictor


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream_eval")
    vf.write_meta_expressions(root, "mevis")
    vf.write_meta_expressions(root, "revos")
    meta_file = root / "revos/meta_expressions_valid_.json"
    meta = json.loads(meta_file.read_text())
    meta["videos"]["v2"]["expressions"]["0"]["type_id"] = 1  # ReVOS scores by subset: every expression has one
    meta_file.write_text(json.dumps(meta))
    return root


def records_of(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["key"]: {k: v for k, v in r.items() if k != "seconds"} for r in rows}


@pytest.mark.parametrize("make", [lambda root: MeViSEvaluator("valid_u", root=str(root), max_new_tokens=2),
                                  lambda root: ReVOSEvaluator("valid", root=str(root), max_new_tokens=2)])  # fmt: skip
def test_streamed_evaluation_equals_the_plain_one(data_root, tmp_path, tiny_model, processor, make):
    model = tiny_model.eval()
    force_token(model, model.config.seg_token_id)  # every answer holds <|seg|>s, so every record has masks
    predictor = Predictor(model, processor)
    streamed = []
    stream_sample = predictor.stream_sample
    predictor.stream_sample = lambda *a, **k: streamed.append(1) or stream_sample(*a, **k)
    evaluator = make(data_root)
    results, records = {}, {}
    for name, above in (("plain", None), ("stream", 0)):
        predictor.stream_above = above
        path = run_predictions(evaluator, predictor, tmp_path / name, progress=False)
        records[name] = records_of(path)
        results[name] = score_predictions(evaluator, tmp_path / name)["metrics"]
    assert len(streamed) == len(evaluator) > 0, "every sample went through the stream once"
    assert records["stream"] == records["plain"]
    assert all(r["num_seg"] > 0 for r in records["plain"].values())
    assert results["stream"] == results["plain"]
    prefix = evaluator.result_prefix
    assert 0.0 <= results["plain"][f"{prefix}/J&F"] <= 1.0 and results["plain"][f"{prefix}/no_seg_rate"] == 0.0
