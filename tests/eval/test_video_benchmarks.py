"""Video-segmentation evaluators (ReVOS, MeViS, Ref-YouTube-VOS, Ref-DAVIS17, Ref-SAV, GroundMoRe) on fixtures in each
benchmark's released layout: ground truth read without decoding frames equals the loaders' samples; scores of written
predictions (GT, shifted, emptied, ...) equal an independent per-frame computation (numpy IoU, a plain DAVIS boundary
F with scipy + skimage); submission zips hold exactly `{vid}/{exp_id}/{frame}.png`; the Ref-DAVIS17 running-index
ordering; the tiny model through `run_predictions`; the Hydra entry point for every benchmark."""

import io
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
from PIL import Image
from skimage.morphology import disk as sk_disk

from tests.conftest import SHARED
from tests.data import video_fixtures as vf
from tests.data.fixtures import H, W
from tests.helpers import force_token
from unipixel.data.errors import DataError
from unipixel.eval.benchmarks.groundmore import GroundMoReEvaluator
from unipixel.eval.benchmarks.mevis import MeViSEvaluator
from unipixel.eval.benchmarks.ref_davis17 import RefDAVIS17Evaluator
from unipixel.eval.benchmarks.ref_sav import RefSAVEvaluator
from unipixel.eval.benchmarks.ref_youtube_vos import RefYouTubeVOSEvaluator
from unipixel.eval.benchmarks.revos import ReVOSEvaluator
from unipixel.eval.benchmarks.video_seg import ClipAnnotation
from unipixel.eval.runner import encode_masks, load_predictions, prediction_dir, run_predictions, score_predictions
from unipixel.eval.runner import shard_file as runner_shard_file
from unipixel.inference import Predictor
from unipixel.inference.predictor import Prediction

REPO = Path(__file__).resolve().parents[2]

GROUNDMORE_QUESTIONS = {
    # clip_0120_0125: 30 frames at 6 fps, masks on even frames; 01:21-01:23 -> clip frames 6..17
    "0": {"question": "Who is moving right", "answer": "Two boxes", "q_type": "Causal", "obj_id": "1, 2",
          "action_start": "01:21", "action_end": "01:23"},
    "1": {"question": "What moves first?", "answer": "The top box", "q_type": "Sequential", "obj_id": "1",
          "action_start": "01:20", "action_end": "01:25"},
    "2": {"question": "What would stop", "answer": "The lower box", "q_type": "Causal", "obj_id": "2",
          "action_start": "01:22", "action_end": "01:23"},
    "3": {"question": "Which box is on top", "answer": "The first one", "q_type": "Descriptive", "obj_id": "1",
          "action_start": "01:20", "action_end": "01:22"},
}  # fmt: skip
OVERLAP_TRACK = vf.box_track(10, 6)  # overlaps track 0 (column 2 + t) of the ReVOS fixture by 8 columns


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """Every benchmark's fixture under one root. ReVOS gets a type_id on v2 (reasoning), a two-instance expression
    whose instances overlap (GT value 2 for the published A/R) and a per-object foreground list for v1."""
    root = tmp_path_factory.mktemp("video_benchmarks")
    info = {"revos": vf.write_meta_expressions(root, "revos")}
    meta_file = root / "revos/meta_expressions_valid_.json"
    meta = json.loads(meta_file.read_text())
    meta["videos"]["v2"]["expressions"]["0"]["type_id"] = 1
    meta["videos"]["v1"]["expressions"]["4"] = {"exp": "the overlapping pair", "obj_id": [0, 4], "anno_id": [0, 4],
                                                "type_id": 0}  # fmt: skip
    meta_file.write_text(json.dumps(meta))
    masks = json.loads((root / "revos/mask_dict.json").read_text())
    masks["4"] = vf.rle_track(OVERLAP_TRACK)
    (root / "revos/mask_dict.json").write_text(json.dumps(masks))
    tracks = info["revos"]["tracks"]
    objects = [tracks[0], tracks[1], tracks[2], OVERLAP_TRACK]
    fg = {"v1": {"masks_rle": [[vf.encode_rle(o[t]) for o in objects if o[t].any()] for t in range(10)]},
          "v2": [vf.encode_rle(tracks[3][t]) for t in range(6)]}  # fmt: skip
    (root / "revos/mask_dict_foreground.json").write_text(json.dumps(fg))
    info["revos"]["foreground_objects"] = {"v1": objects, "v2": [tracks[3]]}
    info["revos"]["instances"] = {0: tracks[0], 1: tracks[1], 2: tracks[2], 3: tracks[3], 4: OVERLAP_TRACK}
    info["mevis"] = vf.write_meta_expressions(root, "mevis")
    info["ref_sav"] = vf.write_meta_expressions(root, "ref_sav_eval")
    info["ref_youtube_vos"] = vf.write_ref_youtube_vos(root)
    info["ref_davis17"] = vf.write_ref_davis17(root)
    info["groundmore"] = vf.write_groundmore(root)
    doc = {"videos": {info["groundmore"]["vid"]: {"questions": GROUNDMORE_QUESTIONS}}}
    (root / "groundmore/test_v2.json").write_text(json.dumps(doc))
    return root, info


EVALUATORS = {
    ("revos", "valid"): ReVOSEvaluator,
    ("mevis", "valid_u"): MeViSEvaluator,
    ("mevis", "valid"): MeViSEvaluator,
    ("ref_youtube_vos", "valid"): RefYouTubeVOSEvaluator,
    ("ref_davis17", "valid"): RefDAVIS17Evaluator,
    ("ref_sav", "valid"): RefSAVEvaluator,
    ("groundmore", "test"): GroundMoReEvaluator,
}
SCORED = [k for k in EVALUATORS if k not in (("mevis", "valid"), ("ref_youtube_vos", "valid"))]


def make(benchmark, split, root, out=None, **kwargs):
    return EVALUATORS[benchmark, split](split, root=str(root), out_dir=None if out is None else str(out), **kwargs)


def write_predictions(evaluator, out_dir, mask_of) -> dict:
    """Predictions in the runner's format; `mask_of(i, sample)` gives `(T, H, W)` bool, or None for an answer without
    `<|seg|>` (stored as an empty mask). Returns {position: (sample, mask)}."""
    folder = prediction_dir(out_dir, evaluator)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    with open(runner_shard_file(folder, 0, 1), "w") as f:
        for i in range(len(evaluator)):
            sample = evaluator.dataset[i]
            mask = mask_of(i, sample)
            num_seg = 0 if mask is None else 1
            if mask is None:
                mask = np.zeros(sample.frames.shape[:3], dtype=bool)
            record = {"key": evaluator.key(i), "id": sample.id, "vid": sample.meta["vid"],
                      "exp_id": sample.meta["exp_id"], "text": "", "num_seg": num_seg,
                      "masks": encode_masks(mask[None])}  # fmt: skip
            f.write(json.dumps(record) + "\n")
            written[i] = (sample, mask)
    return written


def gt_of(sample):
    return sample.meta["gt_masks"][0]


def shift_right(masks, columns):
    out = np.zeros_like(masks)
    out[..., columns:] = masks[..., :-columns]
    return out


# ------------------------------------------------------------------------------------------------ independent metrics
def ref_boundary(mask):
    """DAVIS boundary map: a pixel differs from its east, south or south-east neighbour (edge replicated)."""
    padded = np.pad(mask, ((0, 1), (0, 1)), mode="edge")
    return (mask != padded[:-1, 1:]) | (mask != padded[1:, :-1]) | (mask != padded[1:, 1:])


def ref_frame_jf(pred, gt):
    union = np.sum(pred | gt)
    j = 1.0 if union == 0 else np.sum(pred & gt) / union
    radius = math.ceil(0.008 * math.hypot(*pred.shape))
    pb, gb = ref_boundary(pred), ref_boundary(gt)
    if not pb.any() and not gb.any():
        return j, 1.0
    if not pb.any() or not gb.any():
        return j, 0.0
    precision = np.sum(pb & ndi.binary_dilation(gb, structure=sk_disk(radius))) / pb.sum()
    recall = np.sum(gb & ndi.binary_dilation(pb, structure=sk_disk(radius))) / gb.sum()
    return j, (0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))


def ref_video_jf(pred, gt):
    """Frame means of J and F of one expression."""
    per_frame = np.array([ref_frame_jf(p, g) for p, g in zip(pred, gt)])
    return per_frame[:, 0].mean(), per_frame[:, 1].mean()


def ref_dataset_jf(pairs):
    """Means over expressions; J&F = (J + F) / 2."""
    values = np.array([ref_video_jf(p, g) for p, g in pairs])
    j, f = values[:, 0].mean(), values[:, 1].mean()
    return {"J": j, "F": f, "J&F": (j + f) / 2}


def assert_metrics(results, prefix, expected, abs_tol=1e-12):
    for name, value in expected.items():
        assert results["metrics"][f"{prefix}/{name}"] == pytest.approx(value, abs=abs_tol), name


# ------------------------------------------------------------------------------------------------ ground truth access
@pytest.mark.parametrize("benchmark,split", SCORED)
def test_ground_truth_read_without_frames_matches_samples(data_root, benchmark, split):
    root, _ = data_root
    evaluator = make(benchmark, split, root)
    for i in range(len(evaluator)):
        sample = evaluator.dataset[i]
        clip = ClipAnnotation(evaluator.dataset, i)
        assert (len(clip), clip.height, clip.width) == sample.frames.shape[:3]
        assert clip.frame_names == sample.meta["frame_names"]
        chunks = np.concatenate([clip.target(s, s + 3) for s in range(0, len(clip), 3)])
        assert np.array_equal(chunks, gt_of(sample)), sample.id
        if benchmark == "revos":
            gt_raw = evaluator.instance_sum(clip, clip.positions)
            fg_raw = evaluator.foreground_sum(clip, clip.positions)
            assert np.array_equal(gt_raw != 0, gt_of(sample))
            assert np.array_equal(fg_raw != 0, sample.meta["foreground_masks"])


def test_revos_raw_values_count_overlapping_instances(data_root):
    root, info = data_root
    evaluator = make("revos", "valid", root)
    position = next(i for i, r in enumerate(evaluator.dataset.index) if r["id"] == "v1/4")
    clip = ClipAnnotation(evaluator.dataset, position)
    instances = info["revos"]["instances"]
    expected = instances[0].astype(np.uint8) + instances[4].astype(np.uint8)
    assert expected.max() == 2
    assert np.array_equal(evaluator.instance_sum(clip, clip.positions), expected)
    objects = info["revos"]["foreground_objects"]["v1"]
    assert np.array_equal(evaluator.foreground_sum(clip, clip.positions), np.sum(objects, axis=0, dtype=np.uint8))


# ------------------------------------------------------------------------------------------------ scores
@pytest.mark.parametrize("benchmark,split", SCORED)
def test_ground_truth_predictions_score_one(data_root, tmp_path, benchmark, split):
    root, _ = data_root
    evaluator = make(benchmark, split, root)
    write_predictions(evaluator, tmp_path, lambda i, s: gt_of(s))
    results = score_predictions(evaluator, tmp_path)
    prefix = f"{benchmark}/{split}"
    names = ["J", "F", "J&F"]
    if benchmark == "revos":
        names += [f"{subset}/{m}" for subset in ("referring", "reason", "overall") for m in ("J", "F", "J&F", "A", "R")]
        names += [f"published/{subset}/{m}" for subset in ("referring", "reason", "overall") for m in ("J", "F")]
    assert_metrics(results, prefix, dict.fromkeys(names, 1.0))
    if benchmark == "revos":  # published R counts true positives where two instances overlap (B17)
        assert results["metrics"][f"{prefix}/published/referring/R"] < 1.0
    assert results["metrics"][f"{prefix}/no_seg_rate"] == 0.0
    assert results["metrics"][f"{prefix}/num_expressions"] == len(evaluator) == results["num_samples"]


def test_mevis_shifted_and_empty_predictions_match_independent_values(data_root, tmp_path):
    root, _ = data_root
    evaluator = make("mevis", "valid_u", root)

    def mask_of(i, sample):
        gt = gt_of(sample)
        return [shift_right(gt, 3), None, gt, np.flip(gt, axis=1), np.ones_like(gt)][i]

    written = write_predictions(evaluator, tmp_path, mask_of)
    expected = ref_dataset_jf([(mask, gt_of(sample)) for sample, mask in written.values()])
    assert 0.1 < expected["J"] < 0.9 and 0.1 < expected["F"] < 0.9  # a mix of hits and misses
    results = score_predictions(evaluator, tmp_path)
    assert_metrics(results, "mevis/valid_u", expected)
    assert results["metrics"]["mevis/valid_u/no_seg_rate"] == pytest.approx(1 / 5)
    assert results["metrics"]["mevis/valid_u/num_videos"] == 2
    # scoring one frame at a time gives the same numbers
    one_by_one = score_predictions(make("mevis", "valid_u", root, chunk_frames=1), tmp_path)
    assert_metrics(one_by_one, "mevis/valid_u", expected)


def test_revos_subsets_and_accuracy_robustness_match_independent_values(data_root, tmp_path):
    root, info = data_root
    evaluator = make("revos", "valid", root, chunk_frames=4)
    objects = info["revos"]["foreground_objects"]
    instances = info["revos"]["instances"]
    rng = np.random.default_rng(0)

    def mask_of(i, sample):
        gt = gt_of(sample)
        noisy = gt.copy()
        noisy[:, 40:44, 50:54] = True  # false positives on every frame
        return [shift_right(gt, 2), noisy, None, rng.random(gt.shape) > 0.7, gt, shift_right(gt, 1)][i]

    written = write_predictions(evaluator, tmp_path, mask_of)
    rows = {"referring": [], "reason": []}
    for i, (sample, pred) in written.items():
        record = evaluator.dataset.index[i]
        gt = gt_of(sample)
        fg_raw = np.sum(objects[sample.meta["vid"]], axis=0)
        gt_raw = sum((instances[int(a)].astype(int) for a in record["anno_ids"]), np.zeros(gt.shape, int))
        j, f = ref_video_jf(pred, gt)
        n_px = gt.shape[1] * gt.shape[2]
        accuracy = np.mean([np.sum(p == g) / n_px for p, g in zip(pred, gt)])
        fg_pixels = [np.count_nonzero(fg) for fg in fg_raw]  # the foreground as a binary union
        robust = np.mean([max(0.0, 1 - np.sum(p & ~g) / (n + 1e-6)) for p, g, n in zip(pred, gt, fg_pixels)])
        # The published evaluator: prediction 0/255 against raw GT values; A counts equal values, R sums
        # (1 - gt) * pred in uint8 (255 per false positive, 1 per true positive where two instances overlap).
        pred_raw = pred.astype(int) * 255
        accuracy_pub = np.mean([np.sum(p == g) / n_px for p, g in zip(pred_raw, gt_raw)])
        neg = [np.sum(((1 - g) * p) % 256) for p, g in zip(pred_raw, gt_raw)]
        robust_pub = np.mean([max(0.0, 1 - n / (fg.sum() + 1e-6)) for n, fg in zip(neg, fg_raw)])
        subset = {0: "referring", 1: "reason"}[sample.meta["type_id"]]
        rows[subset].append([j, f, accuracy, robust, accuracy_pub, robust_pub])
    assert len(rows["referring"]) == 4 and len(rows["reason"]) == 2
    means = {s: np.mean(v, axis=0) for s, v in rows.items()}
    expected, published = {}, {}
    for s, (j, f, a, r, a_pub, r_pub) in means.items():
        expected.update({f"{s}/J": j, f"{s}/F": f, f"{s}/J&F": (j + f) / 2, f"{s}/A": a, f"{s}/R": r})
        published.update({f"published/{s}/A": a_pub, f"published/{s}/R": r_pub, f"published/{s}/J": j})
    for m in ("J", "F", "J&F", "A", "R"):
        expected[f"overall/{m}"] = (expected[f"referring/{m}"] + expected[f"reason/{m}"]) / 2
    for m in ("A", "R", "J"):
        published[f"published/overall/{m}"] = (
            published[f"published/referring/{m}"] + published[f"published/reason/{m}"]
        ) / 2
    expected.update({m: expected[f"overall/{m}"] for m in ("J", "F", "J&F")})

    results = score_predictions(evaluator, tmp_path)
    assert_metrics(results, "revos/valid", expected)
    assert_metrics(results, "revos/valid", published, abs_tol=1e-4)  # published rounds each expression to 0.01 %
    assert results["metrics"]["revos/valid/published/overall/A"] < results["metrics"]["revos/valid/overall/A"]
    assert results["metrics"]["revos/valid/referring/num_expressions"] == 4
    assert results["metrics"]["revos/valid/no_seg_rate"] == pytest.approx(1 / 6)


def test_groundmore_gating_and_question_types_match_independent_values(data_root, tmp_path):
    root, info = data_root
    evaluator = make("groundmore", "test", root)
    tracks = info["groundmore"]["tracks"]
    frames = np.linspace(0, 29, 20, dtype=int)  # the 20 evaluation frames of the 30-frame clip
    intervals = {"0": (6, 17), "1": (0, 29), "2": (12, 17), "3": (0, 11)}
    objects = {"0": [1, 2], "1": [1], "2": [2], "3": [1]}

    def ungated(qid):  # the objects on every evaluation frame that has a mask PNG (even frames)
        return np.stack([np.any([tracks[o][n] for o in objects[qid]], axis=0) & (n % 2 == 0) for n in frames])

    def gated(qid):
        lo, hi = intervals[qid]
        return ungated(qid) & ((frames >= lo) & (frames <= hi))[:, None, None]

    def mask_of(i, sample):
        qid = sample.meta["exp_id"]
        return {"0": ungated("0"), "1": gated("1"), "2": None, "3": shift_right(gated("3"), 2)}[qid]

    written = write_predictions(evaluator, tmp_path, mask_of)
    for sample, _ in written.values():
        assert np.array_equal(gt_of(sample), gated(sample.meta["exp_id"])), sample.id
    per_question = {s.meta["exp_id"]: ref_video_jf(m, gated(s.meta["exp_id"])) for s, m in written.values()}
    assert per_question["1"] == (1.0, 1.0) and per_question["0"][0] < 1

    def summary(qids):
        j = np.mean([per_question[q][0] for q in qids])
        f = np.mean([per_question[q][1] for q in qids])
        return {"J": j, "F": f, "J&F": (j + f) / 2}

    expected = summary(["0", "1", "2", "3"])
    for q_type, qids in (("causal", ["0", "2"]), ("sequential", ["1"]), ("descriptive", ["3"])):
        expected.update({f"{q_type}/{m}": v for m, v in summary(qids).items()})
    results = score_predictions(evaluator, tmp_path)
    assert_metrics(results, "groundmore/test", expected)
    assert results["metrics"]["groundmore/test/causal/num_expressions"] == 2
    assert results["metrics"]["groundmore/test/no_seg_rate"] == pytest.approx(1 / 4)
    assert not any("counterfactual" in k for k in results["metrics"])  # no such question in the fixture


# ------------------------------------------------------------------------------------------------ Ref-DAVIS17 ordering
def test_ref_davis17_expression_ordering(data_root, tmp_path):
    """The fixture's pickle counts expressions in JSON order ("dogs" 0..11, then "cows"); `json` pairs every expression
    with its own mask (equal to the palette PNG through obj_id), `sorted` ("cows" first, "10" < "2") does not."""
    root, _ = data_root
    by_png = make("ref_davis17", "valid", root, mask_source="png")
    json_order = make("ref_davis17", "valid", root, out=tmp_path)
    sorted_order = make("ref_davis17", "valid", root, mask_order="sorted")
    ids = [r["id"] for r in by_png.dataset.index]
    assert ids[:3] == ["dogs/0", "dogs/1", "dogs/2"] and ids == [r["id"] for r in json_order.dataset.index]
    assert [r["mask_key"] for r in json_order.dataset.index] == [str(i) for i in range(len(ids))]
    keys = sorted((r["vid"], r["exp_id"]) for r in sorted_order.dataset.index)
    assert keys[:4] == [("cows", "0"), ("cows", "1"), ("dogs", "0"), ("dogs", "1")] and keys[4] == ("dogs", "10")

    # predictions: the PNG ground truth of each expression (no ordering involved)
    written = write_predictions(by_png, tmp_path, lambda i, s: gt_of(s))
    for i, (sample, mask) in written.items():
        assert np.array_equal(gt_of(json_order.dataset[i]), mask), sample.id
    assert_metrics(score_predictions(json_order, tmp_path), "ref_davis17/valid", {"J": 1.0, "F": 1.0, "J&F": 1.0})

    # sorted order: the expression at sorted rank k gets pickle entry k, i.e. the mask of the k-th expression in JSON
    # order
    pkl_gt = {i: mask for i, (_, mask) in written.items()}
    rank = {key: k for k, key in enumerate(keys)}
    pairs = []
    for sample, mask in written.values():
        pairs.append((mask, pkl_gt[rank[sample.meta["vid"], sample.meta["exp_id"]]]))
    expected = ref_dataset_jf(pairs)
    assert expected["J"] < 0.6
    assert_metrics(score_predictions(sorted_order, tmp_path), "ref_davis17/valid", expected)


# ------------------------------------------------------------------------------------------------ submissions
@pytest.mark.parametrize(
    "benchmark,zip_prefix", [("mevis", ""), ("ref_youtube_vos", ""), ("ref_youtube_vos", "Annotations")]
)
def test_submission_zip_layout(data_root, tmp_path, benchmark, zip_prefix):
    root, _ = data_root
    evaluator = make(benchmark, "valid", root, out=tmp_path, zip_prefix=zip_prefix)

    def mask_of(i, sample):
        masks = np.zeros(sample.frames.shape[:3], dtype=bool)
        for t in range(len(masks)):
            masks[t, 5 + i : 20 + i, t : t + 10 + i] = True
        return None if i == 1 else masks

    written = write_predictions(evaluator, tmp_path, mask_of)
    results = score_predictions(evaluator, tmp_path)
    folder = prediction_dir(tmp_path, evaluator)
    path = folder / "submission.zip"
    prefix = f"{zip_prefix}/" if zip_prefix else ""
    expected = {}
    for sample, mask in written.values():
        for name, frame in zip(sample.meta["frame_names"], mask):
            expected[f"{prefix}{sample.meta['vid']}/{sample.meta['exp_id']}/{name}.png"] = frame
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(expected)
        for name, frame in expected.items():
            image = Image.open(io.BytesIO(archive.read(name)))
            assert image.mode == "L" and image.size == (W, H), name
            pixels = np.asarray(image)
            assert set(np.unique(pixels)) <= {0, 255}
            assert np.array_equal(pixels == 255, frame), name
    if benchmark == "ref_youtube_vos":  # frame names come from the meta (start at 00110, step 5)
        assert any(n.endswith("c_vid/1/00145.png") for n in expected)
    num_videos = len({s.meta["vid"] for s, _ in written.values()})
    counts = {"num_expressions": len(written), "num_videos": num_videos, "num_frames": len(expected)}
    assert_metrics(results, f"{benchmark}/valid", {**counts, "no_seg_rate": 1 / len(written)})
    manifest = json.loads((folder / "submission.json").read_text())
    assert manifest["complete"] and manifest["zip"] == str(path) and manifest["num_frames"] == len(expected)
    assert manifest["layout"].startswith(f"{prefix}{{vid}}/{{exp_id}}/{{frame}}.png")
    # re-scoring rewrites the same zip
    first = path.read_bytes()
    score_predictions(evaluator, tmp_path)
    assert path.read_bytes() == first


@pytest.mark.skipif(not (SHARED / "real_samples").is_dir(), reason="../shared/real_samples not available")
def test_submission_from_real_ref_youtube_vos_meta(tmp_path):
    """The codalab valid meta (8 videos, 38 expressions, a clip starting at 00110): one PNG per listed frame of every
    expression, names taken straight from the JSON."""
    meta_dir = tmp_path / "data/ref_youtube_vos/meta_expressions/valid"
    meta_dir.mkdir(parents=True)
    shutil.copy(SHARED / "real_samples/ref_youtube_vos/meta_expressions/valid/meta_expressions.json", meta_dir)
    videos = json.loads((meta_dir / "meta_expressions.json").read_text())["videos"]
    for k, (vid, video) in enumerate(videos.items()):
        vf.write_frames(tmp_path / "data/ref_youtube_vos/valid/JPEGImages" / vid, video["frames"], seed=k)
    evaluator = make("ref_youtube_vos", "valid", tmp_path / "data", out=tmp_path / "out")
    write_predictions(evaluator, tmp_path / "out", lambda i, s: gt_free_mask(s))
    results = score_predictions(evaluator, tmp_path / "out")
    expected = {
        f"{vid}/{eid}/{frame}.png" for vid, v in videos.items() for eid in v["expressions"] for frame in v["frames"]
    }
    with zipfile.ZipFile(prediction_dir(tmp_path / "out", evaluator) / "submission.zip") as archive:
        assert set(archive.namelist()) == expected and len(archive.namelist()) == len(expected)
    assert "03deb7ad95/0/00110.png" in expected
    assert results["metrics"]["ref_youtube_vos/valid/num_expressions"] == 38
    assert results["metrics"]["ref_youtube_vos/valid/num_videos"] == 8


def gt_free_mask(sample):
    """A box on every frame (splits without masks have no GT to copy)."""
    masks = np.zeros(sample.frames.shape[:3], dtype=bool)
    masks[:, 10:20, 10:30] = True
    return masks


def test_submission_needs_out_dir(data_root, tmp_path):
    root, _ = data_root
    evaluator = make("mevis", "valid", root)  # no out_dir
    write_predictions(evaluator, tmp_path, lambda i, s: None)
    with pytest.raises(ValueError, match="mevis/valid has no masks.*out_dir"):
        score_predictions(evaluator, tmp_path)


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_inputs_name_the_sample(data_root, tmp_path):
    root, _ = data_root
    evaluator = make("mevis", "valid_u", root)
    write_predictions(evaluator, tmp_path, lambda i, s: gt_of(s)[:-1] if i == 2 else gt_of(s))
    with pytest.raises(ValueError, match=r"mevis/valid_u prediction 0000002 \(sample v1/2\): 9 mask frames .* 10"):
        score_predictions(evaluator, tmp_path)

    # ReVOS needs a type_id on every expression (the raw fixture's v2 has none)
    other = tmp_path / "raw"
    vf.write_meta_expressions(other, "revos")
    revos = make("revos", "valid", other)
    write_predictions(revos, tmp_path / "out", lambda i, s: gt_of(s))
    with pytest.raises(DataError, match=r"\[revos\] sample v2/0: type_id None .*meta_expressions_valid_.json"):
        score_predictions(revos, tmp_path / "out")


# ------------------------------------------------------------------------------------------------ tiny model
class NoSeg:
    """A predictor whose answers never contain `<|seg|>`."""

    def predict_sample(self, sample, **kwargs):
        return Prediction(text="I cannot tell.")


def test_tiny_model_predictions_end_to_end(data_root, tmp_path, tiny_model, processor):
    root, _ = data_root
    model = tiny_model.eval()
    force_token(model, model.config.seg_token_id)  # the random model answers with <|seg|>s, so masks are produced
    evaluator = make("ref_sav", "valid", root, max_new_tokens=2)
    path = run_predictions(evaluator, Predictor(model, processor), tmp_path, progress=False)
    records = load_predictions(path.parent)
    assert len(records) == len(evaluator) == 2
    for key, record in records.items():
        sample = evaluator.dataset[int(key)]
        assert record["num_seg"] == 2 and record["text"].count("<|seg|>") == 2  # only the first track is kept
        assert len(record["masks"]) == 1 and len(record["masks"][0]) == len(sample.frames)
        assert all(r["size"] == [H, W] for r in record["masks"][0])
        assert (record["vid"], record["exp_id"]) == (sample.meta["vid"], sample.meta["exp_id"])
    results = score_predictions(evaluator, tmp_path)
    assert results["metrics"]["ref_sav/valid/no_seg_rate"] == 0.0
    assert 0.0 <= results["metrics"]["ref_sav/valid/J&F"] <= 1.0

    # an answer without <|seg|> is an empty mask on every frame
    run_predictions(evaluator, NoSeg(), tmp_path / "none", progress=False)
    empty = score_predictions(evaluator, tmp_path / "none")
    pairs = [(np.zeros_like(gt_of(evaluator.dataset[i])), gt_of(evaluator.dataset[i])) for i in range(len(evaluator))]
    assert_metrics(empty, "ref_sav/valid", {**ref_dataset_jf(pairs), "no_seg_rate": 1.0})


# ------------------------------------------------------------------------------------------------ entry point
def compose_eval(overrides):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        return compose("eval", overrides=overrides)


@pytest.mark.parametrize("benchmark,split", list(EVALUATORS))
def test_entry_point_runs_every_benchmark(data_root, tmp_path, benchmark, split):
    from unipixel.eval.__main__ import evaluate

    root, _ = data_root
    overrides = [f"benchmark={benchmark}", f"split={split}", "model.path=tiny", f"data_root={root}", "limit=2",
                 f"out_dir={tmp_path}", "benchmark.max_new_tokens=2", "progress=false"]  # fmt: skip
    cfg = compose_eval(overrides)
    results = evaluate(cfg)
    prefix = f"{benchmark}/{split}"
    assert results["num_samples"] == 2 and results["metrics"][f"{prefix}/num_expressions"] == 2
    folder = tmp_path / benchmark / split
    assert (folder / "results.json").is_file() and (folder / "predictions.shard0-of-1.jsonl").is_file()
    run = json.loads((folder / "run_info.json").read_text())
    assert (
        run["checkpoint"] == "tiny" and run["settings"]["max_new_tokens"] == 2 and run["settings"]["llm_frames"] == 16
    )
    if benchmark == "revos":  # the first two expressions are both referring: the reasoning subset (and overall) is NaN
        assert 0.0 <= results["metrics"][f"{prefix}/referring/J&F"] <= 1.0
        assert math.isnan(results["metrics"][f"{prefix}/overall/J&F"])
    elif (benchmark, split) in SCORED:
        assert 0.0 <= results["metrics"][f"{prefix}/J&F"] <= 1.0
    else:
        manifest = json.loads((folder / "submission.json").read_text())
        assert (folder / "submission.zip").is_file() and manifest["num_expressions"] == 2
        assert manifest["complete"] == (manifest["num_expressions_in_split"] == 2)


@pytest.mark.slow
def test_module_command(data_root, tmp_path):
    root, _ = data_root
    cmd = [sys.executable, "-m", "unipixel.eval", "benchmark=mevis", "split=valid_u", "model.path=tiny",
           f"data_root={root}", "limit=2", f"out_dir={tmp_path}", "benchmark.max_new_tokens=2", "progress=false",
           f"hydra.run.dir={tmp_path / 'hydra'}"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "mevis/valid_u/results.json").read_text())["num_samples"] == 2
