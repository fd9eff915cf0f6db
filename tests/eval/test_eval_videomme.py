"""Video-MME loader and evaluator on the released layout (a parquet written like lmms-lab/Video-MME's, MP4s named by
videoID): prompts and frame counts, inference with the tiny model, accuracy per duration against hand-computed values,
broken rows named, and the error without pyarrow."""

import sys

import numpy as np
import pytest

pytest.importorskip("pyarrow", reason="Video-MME's parquet needs pyarrow (the dev extra installs it)")

from tests.data import video_fixtures as vf  # noqa: E402
from tests.eval.region_qa_helpers import Recording, tokens_per_frame, write_predictions  # noqa: E402
from unipixel.data.errors import DataError  # noqa: E402
from unipixel.data.mixture import build_dataset  # noqa: E402
from unipixel.eval.benchmarks.videomme import VideoMMEEvaluator  # noqa: E402
from unipixel.eval.runner import load_predictions, run_predictions, score_predictions  # noqa: E402
from unipixel.inference import Predictor  # noqa: E402


@pytest.fixture
def root(tmp_path):
    vf.write_videomme(tmp_path / "data")
    return tmp_path / "data"


def test_loader_reads_the_parquet_layout(root):
    ds = build_dataset("videomme", root=str(root))
    assert [r["id"] for r in ds.index] == ["001-1", "001-2", "301-1", "301-2", "601-1"]
    s = ds[0]
    assert s.conversation[0]["content"] == (
        "How many boxes appear?\nOptions:\n(A) One.\n(B) Two.\n(C) Three.\n(D) Four.\nPlease only give the best option."
    )
    assert s.conversation[1] == {"role": "assistant", "content": "Best Option: (", "open": True, "train": False}
    assert s.meta["answer"] == "B" and s.meta["duration"] == "short" and s.meta["task_type"] == "Counting Problem"
    assert s.meta["domain"] == "Knowledge" and s.meta["pixel_budget"] == (128, 256)
    assert s.meta["scale_pixel_budget"] is False
    # 2 s at 10 fps -> 4 frames (the minimum); 6 s -> 12 frames at 2 fps; 10 s -> 20, capped at 16
    assert len(s.frames) == 4 and s.meta["frame_indices"] == [0, 6, 13, 19]
    assert len(ds[2].frames) == 12 and len(ds[4].frames) == 16
    assert ds[4].meta["frame_indices"][0] == 0 and ds[4].meta["frame_indices"][-1] == 99
    # the MP4 of frame t is grey level 10 t: the decoded frames are the indexed ones
    assert np.allclose(s.frames.reshape(4, -1).mean(1), [0, 60, 130, 190], atol=3)
    short = build_dataset("videomme", root=str(root), durations=["short", "long"])
    assert [r["id"] for r in short.index] == ["001-1", "001-2", "601-1"]
    with pytest.raises(Exception, match=r"unknown Video-MME durations \['longer'\]; choose from"):
        build_dataset("videomme", root=str(root), durations=["longer"])


def test_inference_on_the_released_layout(root, tiny_model, processor, tmp_path):
    evaluator = VideoMMEEvaluator(root=str(root), max_new_tokens=2)
    recorder = Recording(Predictor(tiny_model, processor))
    run_predictions(evaluator, recorder, tmp_path / "out", limit=3, progress=False)
    records = load_predictions(tmp_path / "out" / "videomme" / "test")
    assert [r["id"] for r in records.values()] == ["001-1", "001-2", "301-1"]
    assert all(tokens_per_frame(item) >= 128 for item in recorder.items), "128-256 merged tokens per frame"
    assert score_predictions(evaluator, tmp_path / "out")["num_expected"] == 3


def test_scores_per_duration(root, tmp_path):
    evaluator = VideoMMEEvaluator(root=str(root))
    # answers: B, A | C, D | B
    texts = ["B) Two.", "C)", "C) Nobody.", "The blue team", "Love."]
    write_predictions(tmp_path, evaluator, dict(enumerate({"text": t} for t in texts)))
    metrics = score_predictions(evaluator, tmp_path)["metrics"]
    p = "videomme/test/"
    assert metrics[p + "accuracy/short"] == 0.5
    assert metrics[p + "accuracy/medium"] == 0.5
    assert metrics[p + "accuracy/long"] == 1.0  # "Love." repeats option B's text exactly
    assert np.isclose(metrics[p + "accuracy"], 3 / 5)
    assert np.isclose(metrics[p + "unparsed_rate"], 1 / 5)
    lenient = VideoMMEEvaluator(root=str(root), lenient=True)
    # the original's rule: "The blue team" -> "t" (unparsed), "Love." -> "l" (unparsed)
    assert np.isclose(score_predictions(lenient, tmp_path)["metrics"][p + "accuracy"], 2 / 5)


def test_broken_row_names_sample_and_file(tmp_path):
    rows = list(vf.VIDEOMME_ROWS)
    bad = list(rows[1])
    bad[9] = ["A. a box.", "C. a ball."]  # letters out of order
    rows[1] = tuple(bad)
    path = vf.write_videomme(tmp_path, rows)
    ds = build_dataset("videomme", root=str(tmp_path))
    with pytest.raises(DataError, match=r"001-2: malformed row 1: ValueError: option 1 'C. a ball.' does not start"):
        ds[1]
    assert str(path) in str(pytest.raises(DataError, ds.__getitem__, 1).value)


def test_unknown_split_and_missing_pyarrow(root, monkeypatch):
    with pytest.raises(ValueError, match=r"videomme has the splits \['test'\], got 'val'"):
        VideoMMEEvaluator(split="val", root=str(root))
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # as if pyarrow were not installed
    with pytest.raises(DataError, match=r"needs pyarrow.*pip install 'unipixel\[videomme\]'"):
        len(build_dataset("videomme", root=str(root)))
