"""PixelQA evaluator: the two-round flow of the tiny model through `Predictor.predict_two_round` on the released
layout (point / box / mix), and scoring of answers and masks against independently computed J / F."""

import json

import numpy as np
import pytest

from tests.data import video_fixtures as vf
from tests.eval.region_qa_helpers import Recording, tokens_per_frame, write_predictions
from unipixel.data.errors import DataError
from unipixel.eval.benchmarks.pixelqa import PixelQAEvaluator
from unipixel.eval.runner import decode_masks, encode_masks, load_predictions, run_predictions, score_predictions
from unipixel.inference import Predictor


@pytest.fixture
def bench(tmp_path):
    info = vf.write_videorefer_bench(tmp_path / "data")
    return tmp_path / "data", info


def clip_tracks(info, evaluator, index):
    """Ground truth of question `index` built straight from the fixture's tracks: `(O, T, H, W)`, clip frames."""
    sample = evaluator.dataset[index]
    clip = sample.meta["frame_indices"]
    row = evaluator.dataset.index[index]
    masks = []
    for obj_id, frames in zip(sample.meta["object_ids"], row["obj_frames"]):
        track = info["tracks"][obj_id][clip].copy()
        track[[f not in frames for f in clip]] = False  # no mask where the object is not annotated
        masks.append(track)
    return np.stack(masks)


@pytest.mark.parametrize("split", ["point", "box", "mix"])
def test_two_round_inference(bench, tiny_model, processor, tmp_path, split):
    root, info = bench
    evaluator = PixelQAEvaluator(split, root=str(root), max_new_tokens=2)
    recorder = Recording(Predictor(tiny_model.eval(), processor))
    run_predictions(evaluator, recorder, tmp_path / "out", progress=False)
    records = load_predictions(tmp_path / "out" / "pixelqa" / split)
    assert len(records) == 2
    for index, record in enumerate(records.values()):
        gt = clip_tracks(info, evaluator, index)
        pred = decode_masks(record["masks"])
        assert pred.shape == gt.shape == (index + 1, 16, 48, 64)
        assert isinstance(record["text"], str) and len(record["prompt_kinds"]) == index + 1
        if split != "mix":
            assert record["prompt_kinds"] == [split] * (index + 1)
    assert 128 <= tokens_per_frame(recorder.items[0]) <= 256  # PixelQA's per-frame budget (16 frames: no scaling)
    assert recorder.samples[0].conversation[-1]["content"] == "[0] <|seg|>"
    # scoring: J and F recomputed here from pixel counts over each object's whole clip volume
    j_values, f_values = [], []
    for index, record in enumerate(records.values()):
        for pred, gt in zip(decode_masks(record["masks"]), clip_tracks(info, evaluator, index)):
            inter, union = np.sum(pred & gt), np.sum(pred | gt)
            j_values.append(inter / union if union else 1.0)
            if pred.sum() == 0 or gt.sum() == 0:
                f_values.append(float(pred.sum() == gt.sum()))
            else:
                f_values.append(2 * inter / (pred.sum() + gt.sum()))
    metrics = score_predictions(evaluator, tmp_path / "out")["metrics"]
    prefix = f"pixelqa/{split}/"
    assert metrics[prefix + "num_objects"] == 3
    assert np.isclose(metrics[prefix + "J"], np.mean(j_values))
    assert np.isclose(metrics[prefix + "F"], np.mean(f_values))
    assert np.isclose(metrics[prefix + "J&F"], (np.mean(j_values) + np.mean(f_values)) / 2)


def test_scores_hand_written_predictions(bench, tmp_path):
    root, info = bench
    evaluator = PixelQAEvaluator("box", root=str(root))
    # q0 (one object, annotated on all 16 clip frames, a 12 x 12 box): predict the left 6 columns of the box on every
    # frame -> IoU = 1/2, precision 1, recall 1/2, F1 = 2/3. q1 (two objects): exact masks -> J = F = 1.
    gt0 = clip_tracks(info, evaluator, 0)
    assert gt0.reshape(16, -1).sum(1).tolist() == [144] * 16
    half = np.zeros_like(gt0)
    for t, frame in enumerate(gt0[0]):
        cols = np.flatnonzero(frame.any(0))
        half[0, t][:, cols[:6]] = frame[:, cols[:6]]
    gt1 = clip_tracks(info, evaluator, 1)
    write_predictions(
        tmp_path,
        evaluator,
        {0: {"text": "A) Sliding", "masks": encode_masks(half)}, 1: {"text": "A) Apart", "masks": encode_masks(gt1)}},
    )
    metrics = score_predictions(evaluator, tmp_path)["metrics"]
    assert np.isclose(metrics["pixelqa/box/J"], (0.5 + 1 + 1) / 3)
    assert np.isclose(metrics["pixelqa/box/F"], (2 / 3 + 1 + 1) / 3)
    assert np.isclose(metrics["pixelqa/box/J&F"], ((0.5 + 2) / 3 + (2 / 3 + 2) / 3) / 2)
    assert metrics["pixelqa/box/accuracy"] == 0.5  # q0 right (A), q1 wrong (A instead of B)
    assert metrics["pixelqa/box/accuracy/Basic Questions"] == 1.0
    assert metrics["pixelqa/box/accuracy/Relationship Questions"] == 0.0


def test_wrong_mask_shape_names_sample(bench, tmp_path):
    root, _ = bench
    evaluator = PixelQAEvaluator("point", root=str(root))
    empty = np.zeros((1, 16, 48, 64), bool)
    write_predictions(tmp_path, evaluator, {0: {"text": "A", "masks": encode_masks(empty)}})
    write_predictions(tmp_path, evaluator, {1: {"text": "A", "masks": encode_masks(empty)}})  # 1 object, not 2
    with pytest.raises(DataError, match=r"sample 1: prediction 0000001 holds masks of shape \(1, 16, 48, 64\)"):
        score_predictions(evaluator, tmp_path)


def test_unknown_split():
    with pytest.raises(ValueError, match="point, box and mix"):
        PixelQAEvaluator("multi")


def test_records_are_json(bench, tiny_model, processor, tmp_path):
    """One prediction line holds the answer, the prompt kinds and RLE masks (str counts), nothing unserialisable."""
    root, _ = bench
    evaluator = PixelQAEvaluator("mix", root=str(root), max_new_tokens=1)
    path = run_predictions(evaluator, Predictor(tiny_model.eval(), processor), tmp_path, limit=1, progress=False)
    record = json.loads(path.read_text().splitlines()[0])
    assert set(record) >= {"key", "id", "text", "prompt_kinds", "masks", "seconds"}
    assert isinstance(record["masks"][0][0]["counts"], str)
