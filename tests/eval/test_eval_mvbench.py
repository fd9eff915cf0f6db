"""MVBench evaluator: inference with the tiny model on the released layout (open "Best Option: (" turn, flat pixel
budget), per-task accuracy and the task average against hand-computed values, broken rows named."""

import json

import numpy as np
import pytest

from tests.data import video_fixtures as vf
from tests.data.fixtures import write_image, write_video
from tests.eval.region_qa_helpers import Recording, tokens_per_frame, write_predictions
from unipixel.data.errors import DataError
from unipixel.eval.benchmarks.mvbench import MVBenchEvaluator
from unipixel.eval.runner import load_predictions, run_predictions, score_predictions
from unipixel.inference import Predictor

TASKS = ["Episodic Reasoning", "Action Antonym", "Object Shuffle"]


@pytest.fixture
def mvbench_root(tmp_path):
    """Three tasks in the released layout: a TVQA frame folder and two MP4 folders."""
    base = tmp_path / "mvbench"
    for t in range(40):
        write_image(base / f"video/tvqa/frames_fps3_hq/ep1/{t + 1:05d}.jpg", seed=t, height=16, width=16)
    write_video(base / "video/ssv2_video/1.mp4", num_frames=20, fps=10, height=480, width=640)  # 2 s: 4 frames at 2 fps
    write_video(base / "video/perception/videos/cups.mp4", num_frames=50, fps=10)
    vf.dump(base / "json/episodic_reasoning.json", [
        {"video": "ep1", "question": "Who speaks first?", "candidates": ["Ross", "Joey"], "answer": "Joey"},
    ])  # fmt: skip
    vf.dump(base / "json/action_antonym.json", [
        {"video": "1.mp4", "question": "What happens?", "candidates": ["Opening", "Closing", "Not sure"],
         "answer": "Closing"},
        {"video": "1.mp4", "question": "And then?", "candidates": ["Opening", "Closing", "Not sure"],
         "answer": "Opening"},
        {"video": "1.mp4", "question": "Which is it?", "candidates": ["Opening", "Closing", "Not sure"],
         "answer": "Not sure"},
    ])  # fmt: skip
    vf.dump(base / "json/object_shuffle.json", [
        {"video": "cups.mp4", "question": "Where is the ball?", "candidates": ["Left", "Middle", "Right"],
         "answer": "Right"},
    ])  # fmt: skip
    return tmp_path


def test_inference_on_the_released_layout(mvbench_root, tiny_model, processor, tmp_path):
    evaluator = MVBenchEvaluator(root=str(mvbench_root), tasks=TASKS, max_new_tokens=2)
    recorder = Recording(Predictor(tiny_model, processor))
    run_predictions(evaluator, recorder, tmp_path / "out", limit=2, progress=False)
    records = load_predictions(tmp_path / "out" / "mvbench" / "test")
    assert [r["id"] for r in records.values()] == ["episodic_reasoning/0", "action_antonym/0"]
    episode, video = recorder.samples
    assert len(episode.frames) == 32 and len(video.frames) == 4
    assert video.conversation[-1] == {"role": "assistant", "content": "Best Option: (", "open": True, "train": False}
    assert video.conversation[0]["content"].endswith("(C) Not sure\nPlease only give the best option.")
    # a flat 128-256 tokens per frame: 480 x 640 shrinks to 13 x 18 = 234 tokens (the scaled rule would allow
    # 4 x 256 for 4 frames and keep 17 x 23 = 391)
    assert video.meta["scale_pixel_budget"] is False and tokens_per_frame(recorder.items[1]) == 234
    assert score_predictions(evaluator, tmp_path / "out")["num_samples"] == 2


def test_scores_hand_written_answers(mvbench_root, tmp_path):
    evaluator = MVBenchEvaluator(root=str(mvbench_root), tasks=TASKS)
    # order: ER (B), AA (B, A, C), OS (C)
    texts = ["B) Joey", "B)", "A) Opening", "A) Opening", "The ball"]
    write_predictions(tmp_path, evaluator, {i: {"text": t} for i, t in enumerate(texts)})
    metrics = score_predictions(evaluator, tmp_path)["metrics"]
    p = "mvbench/test/"
    assert metrics[p + "accuracy/Episodic Reasoning"] == 1.0
    assert np.isclose(metrics[p + "accuracy/Action Antonym"], 2 / 3)
    assert metrics[p + "accuracy/Object Shuffle"] == 0.0
    assert np.isclose(metrics[p + "average"], (1 + 2 / 3 + 0) / 3)  # mean over tasks
    assert np.isclose(metrics[p + "accuracy"], 3 / 5)  # every question once
    assert np.isclose(metrics[p + "unparsed_rate"], 1 / 5)
    # lenient parsing reads "The ball" as "t" -> still unparsed; "B)" etc. unchanged
    lenient = MVBenchEvaluator(root=str(mvbench_root), tasks=TASKS, lenient=True)
    assert score_predictions(lenient, tmp_path)["metrics"][p + "average"] == metrics[p + "average"]


def test_broken_row_names_sample_and_file(tmp_path):
    vf.write_mvbench(tmp_path)  # its second Action Antonym row has an answer that is not a candidate
    evaluator = MVBenchEvaluator(root=str(tmp_path), tasks=["Action Antonym"])
    write_predictions(tmp_path / "out", evaluator, {0: {"text": "B"}, 1: {"text": "A"}})
    with pytest.raises(DataError, match=r"action_antonym/1: malformed row 1.*not among the candidates.*action_antonym"):
        score_predictions(evaluator, tmp_path / "out")


def test_settings_are_recorded(mvbench_root, tmp_path):
    evaluator = MVBenchEvaluator(root=str(mvbench_root), tasks=TASKS)
    write_predictions(tmp_path, evaluator, {i: {"text": "A"} for i in range(5)})
    score_predictions(evaluator, tmp_path)
    run = json.loads((tmp_path / "mvbench/test/results.json").read_text())["run"]
    assert run["settings"]["max_new_tokens"] == 256 and run["settings"]["scale_pixel_budget"] is False
