"""VideoRefer-Bench-Q evaluator: inference with the tiny model on the released layout (single and multi mask modes,
per-sample pixel budget), then scoring of hand-written answers against hand-computed accuracies."""

import json

import numpy as np
import pytest

from tests.data import video_fixtures as vf
from tests.eval.region_qa_helpers import Recording, add_bench_q_rows, tokens_per_frame, write_predictions
from unipixel.data.errors import DataError
from unipixel.eval.benchmarks.videorefer_bench_q import VideoReferBenchQEvaluator
from unipixel.eval.runner import load_predictions, run_predictions, score_predictions
from unipixel.inference import Predictor


@pytest.fixture
def bench_root(tmp_path):
    vf.write_videorefer_bench(tmp_path)
    add_bench_q_rows(tmp_path)
    return tmp_path


@pytest.mark.parametrize("split", ["single", "multi"])
def test_inference_on_the_released_layout(bench_root, tiny_model, processor, tmp_path, split):
    evaluator = VideoReferBenchQEvaluator(split, root=str(bench_root), max_new_tokens=3)
    recorder = Recording(Predictor(tiny_model, processor))
    run_predictions(evaluator, recorder, tmp_path / "out", limit=2, progress=False)
    records = load_predictions(tmp_path / "out" / "videorefer_bench_q" / split)
    assert sorted(records) == ["0000000", "0000001"] and [r["id"] for r in records.values()] == ["0", "1"]
    assert all(isinstance(r["text"], str) for r in records.values())
    sample, item = recorder.samples[0], recorder.items[0]
    # the mask mode follows the split: single = the prompt frame's mask only
    present = sample.refer_masks.reshape(*sample.refer_masks.shape[:2], -1).any(-1)
    if split == "single":
        assert present.sum() == 1 and present[0, sample.meta["prompt_frame"]]
    else:
        assert present.all()
    # the protocol's 100-144 merged tokens per frame (16 frames: no scaling), not the processor's 4-36 default
    assert 100 <= tokens_per_frame(item) <= 144
    assert sample.conversation[-1] == {
        "role": "assistant",
        "content": "The best option is (",
        "open": True,
        "train": False,
    }
    results = score_predictions(evaluator, tmp_path / "out")
    assert results["num_samples"] == 2 and 0.0 <= results["metrics"][f"videorefer_bench_q/{split}/accuracy"] <= 1.0


def test_scores_hand_written_answers(bench_root, tmp_path):
    # ground truth: q0 A (Basic), q1 B (Relationship), q2 C (Future), q3 A (Relationship)
    texts = {0: "A) Sliding", 1: "Because they move together", 2: "Sleeping", 3: "B) Together"}
    expected = {
        # strict: q0 right; q1 unparsed; q2 names option C's text exactly (right); q3 wrong
        False: {"accuracy": 0.5, "Basic Questions": 1.0, "Relationship Questions": 0.0, "Future Predictions": 1.0},
        # lenient (the original's rule): q1 reads as "b" (right, B12); q2 reads as "s" (unparsed)
        True: {"accuracy": 0.5, "Basic Questions": 1.0, "Relationship Questions": 0.5, "Future Predictions": 0.0},
    }
    for lenient, want in expected.items():
        evaluator = VideoReferBenchQEvaluator("multi", root=str(bench_root), lenient=lenient)
        out = tmp_path / f"lenient{lenient}"
        write_predictions(out, evaluator, {i: {"text": t} for i, t in texts.items()})
        metrics = score_predictions(evaluator, out)["metrics"]
        prefix = "videorefer_bench_q/multi/"
        assert metrics[prefix + "accuracy"] == want["accuracy"]
        for kind in ("Basic Questions", "Relationship Questions", "Future Predictions"):
            assert metrics[f"{prefix}accuracy/{kind}"] == want[kind]
        assert metrics[prefix + "unparsed_rate"] == 0.25
    saved = json.loads((tmp_path / "lenientTrue/videorefer_bench_q/multi/results.json").read_text())
    assert saved["run"]["settings"]["lenient"] is True and saved["num_samples"] == 4


def test_changed_annotation_is_refused(bench_root, tmp_path):
    evaluator = VideoReferBenchQEvaluator("single", root=str(bench_root))
    path = write_predictions(tmp_path, evaluator, {i: {"text": "A"} for i in range(4)})
    lines = path.read_text().splitlines()
    lines[1] = json.dumps({**json.loads(lines[1]), "id": "99"})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"sample 1: prediction 0000001 was made for sample '99'.*VideoRefer-Bench-Q"):
        score_predictions(evaluator, tmp_path)


def test_malformed_row_names_sample_and_file(bench_root, tmp_path):
    path = bench_root / "videorefer/VideoRefer-Bench/VideoRefer-Bench-Q.json"
    rows = json.loads(path.read_text())
    rows[2]["frame_idx"] = "23"  # not an annotated frame of that question
    path.write_text(json.dumps(rows))
    evaluator = VideoReferBenchQEvaluator("multi", root=str(bench_root))
    write_predictions(tmp_path, evaluator, {i: {"text": "A"} for i in range(4)})
    with pytest.raises(DataError, match=r"sample 2: malformed row 2.*frame_idx 23.*VideoRefer-Bench-Q.json"):
        score_predictions(evaluator, tmp_path)


def test_unknown_split():
    with pytest.raises(ValueError, match="single and multi"):
        VideoReferBenchQEvaluator("val")


def test_option_letters_only_from_valid_options(bench_root, tmp_path):
    """q1 has two options: "C)" is not one of them, so it is unparsed (wrong), not an error."""
    evaluator = VideoReferBenchQEvaluator("multi", root=str(bench_root))
    write_predictions(tmp_path, evaluator, {0: {"text": "A)"}, 1: {"text": "C)"}, 2: {"text": "C)"}, 3: {"text": "A"}})
    metrics = score_predictions(evaluator, tmp_path)["metrics"]
    assert np.isclose(metrics["videorefer_bench_q/multi/accuracy"], 3 / 4)
    assert metrics["videorefer_bench_q/multi/unparsed_rate"] == 0.25
