"""Toy generator: determinism, train/val disjointness, size and speed, the CLI and the regeneration rules."""

import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from unipixel.data.toy import FAMILIES, SMALL, make_toy_data, sample_scene

from .conftest import load_rgb

REPO = Path(__file__).resolve().parents[2]
ANNOTATION_SUFFIXES = (".json", ".p", ".pkl")


def _digests(root: Path, suffixes=None) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and (suffixes is None or p.suffix in suffixes)
    }


def test_small_is_fast_small_and_complete(toy_small):
    root, manifest, seconds = toy_small
    assert seconds < 3.0, f"--small took {seconds:.2f} s"
    assert manifest["bytes"] < 2_000_000
    expected = {
        "refcoco",
        "refcoco+",
        "refcocog",
        "reason_seg",
        "mevis",
        "revos",
        "ref_youtube_vos",
        "ref_davis17",
        "ref_sav",
        "videorefer_short_caption",
        "videorefer_detailed_caption",
        "videorefer_qa",
        "videorefer_bench_q",
        "videorefer_bench_d",
    }
    assert set(manifest["datasets"]) == expected
    for key, entry in manifest["datasets"].items():
        assert entry["counts"], key
        for rel, digest in entry["sha256"].items():
            assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest, rel
        for rel in entry["media"]:
            assert (root / rel).is_dir(), rel
    assert manifest["seed"] == 0 and manifest["version"] and manifest["generator"] == "unipixel.data.toy"
    on_disk = json.loads((root / "toy_manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))


def test_same_seed_is_byte_identical(toy_root, tmp_path):
    again = tmp_path / "again"
    make_toy_data(again, seed=0, **SMALL)
    first, second = _digests(toy_root), _digests(again)
    assert first.keys() == second.keys()
    assert first == second  # annotations, manifest, JPEG, PNG and MP4 alike


def test_other_seed_differs(toy_root, tmp_path):
    families = ("reason_seg", "mevis", "videorefer")
    other = tmp_path / "other"
    make_toy_data(other, seed=1, families=families, **SMALL)
    a, b = _digests(toy_root, ANNOTATION_SUFFIXES), _digests(other, ANNOTATION_SUFFIXES)
    for rel in (
        "mevis/train/meta_expressions.json",
        "mevis/train/mask_dict.json",
        "videorefer/VideoRefer-700K/videorefer-qa-75k-wo-masks.json",
        "videorefer/VideoRefer-Bench/VideoRefer-Bench-Q.json",
        "lisa/reason_seg/ReasonSeg/explanatory/train.json",
    ):
        assert a[rel] != b[rel], rel
    seed0 = json.loads((toy_root / "toy_manifest.json").read_text())["scenes"]
    seed1 = json.loads((other / "toy_manifest.json").read_text())["scenes"]
    assert not set(seed1["train"].values()) & set(seed0["train"].values())


def test_family_subset_draws_the_same_scenes(toy_root, tmp_path):
    subset = tmp_path / "subset"
    make_toy_data(subset, seed=0, families=("mevis",), **SMALL)
    rel = "mevis/train/mask_dict.json"
    assert (subset / rel).read_bytes() == (toy_root / rel).read_bytes()


def test_train_and_val_scenes_are_disjoint(toy_small):
    root, manifest, _ = toy_small
    scenes = manifest["scenes"]
    assert scenes["train"] and scenes["val"]
    train_keys, val_keys = set(scenes["train"].values()), set(scenes["val"].values())
    assert len(train_keys) == len(scenes["train"]) and len(val_keys) == len(scenes["val"])  # no repeats either
    assert not train_keys & val_keys

    # no pixel-identical image or frame is shared between training and evaluation media
    train_dirs = [
        "mevis/train",
        "revos/TOY",
        "ref_youtube_vos/train",
        "lisa/reason_seg/ReasonSeg/train",
        "videorefer/VideoRefer-700K",
    ]
    val_dirs = [
        "mevis/valid_u",
        "ref_youtube_vos/valid",
        "lisa/reason_seg/ReasonSeg/val",
        "videorefer/VideoRefer-Bench",
    ]

    def pixels(dirs):
        return {hashlib.md5(load_rgb(p).tobytes()).hexdigest() for d in dirs for p in (root / d).rglob("*.jpg")}

    assert not pixels(train_dirs) & pixels(val_dirs)

    refs = pickle.load(open(root / "lisa/refer_seg/refcoco/refs(unc).p", "rb"))
    train_images = {r["image_id"] for r in refs if r["split"] == "train"}
    eval_images = {r["image_id"] for r in refs if r["split"] != "train"}
    assert train_images and eval_images and not train_images & eval_images

    revos_train = json.loads((root / "revos/meta_expressions_train_.json").read_text())["videos"]
    revos_valid = json.loads((root / "revos/meta_expressions_valid_.json").read_text())["videos"]
    assert not set(revos_train) & set(revos_valid)


def test_scene_sampler_keeps_shapes_apart_and_respects_motion():
    rng = np.random.default_rng(3)
    checked = 0
    while checked < 20:
        motions = {"left": 1, "right": 1, "up": 1, "down": 1, "still": 1, "enter": 1, "leave": 1}
        scene = sample_scene(rng, height=128, width=160, num_frames=10, num_objects=3, motions=motions)
        if scene is None:
            continue
        checked += 1
        assert not (scene.masks.sum(0) > 1).any()  # non-overlapping in every frame
        for o, obj in enumerate(scene.objects):
            present = scene.masks[o].any((1, 2))
            if obj.motion == "enter":
                assert not present[0] and present[-1]
            elif obj.motion == "leave":
                assert present[0] and not present[-1]
            else:
                assert present.all()


def test_refuses_foreign_folder_and_regenerates_toy_root(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        make_toy_data(foreign, families=("reason_seg",), **SMALL)
    assert (foreign / "keep.txt").exists()

    root = tmp_path / "toy"
    make_toy_data(root, families=("reason_seg", "mevis"), **SMALL)
    make_toy_data(root, families=("reason_seg",), **SMALL)  # regenerating drops what the new run does not write
    assert not (root / "mevis").exists()
    assert (root / "lisa/reason_seg/ReasonSeg/explanatory/train.json").exists()
    with pytest.raises(ValueError):
        make_toy_data(root, families=("nope",))


def test_cli_small(tmp_path):
    out = tmp_path / "cli"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools/make_toy_data.py"),
            "--out",
            str(out),
            "--seed",
            "0",
            "--small",
            "--families",
            "reason_seg",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "reason_seg" in result.stdout and "wrote" in result.stdout
    manifest = json.loads((out / "toy_manifest.json").read_text())
    assert manifest["config"]["families"] == ["reason_seg"] and manifest["config"]["num_train"] == SMALL["num_train"]


@pytest.mark.slow
def test_default_size_budget(tmp_path):
    import time

    start = time.perf_counter()
    manifest = make_toy_data(tmp_path / "default", seed=0)
    assert time.perf_counter() - start < 20
    assert manifest["bytes"] < 8_000_000
    assert set(manifest["config"]["families"]) == set(FAMILIES)


def test_appearance_only_expressions_need_no_comparison(tmp_path):
    """relational=False: no two objects share colour and shape, no position words, and every RefCOCO expression's
    appearance words match its target alone; the echo answer style repeats the expression before <|seg|>."""
    from unipixel.data.mixture import build_dataset
    from unipixel.data.templates import echo_answer

    manifest = make_toy_data(tmp_path, seed=3, num_train=6, num_val=2, families=["refer_seg"], relational=False)
    assert manifest["relational"] is False
    words = {"left", "right", "top", "bottom"}
    refs = pickle.loads((tmp_path / "lisa/refer_seg/refcoco/refs(unc).p").read_bytes())
    assert refs and all(not words & set(s["sent"].split()) for r in refs for s in r["sentences"])
    data = build_dataset("refcoco", root=str(tmp_path), split="train", answer_style="echo")
    sample = data[0]
    for user, answer in zip(sample.conversation[::2], sample.conversation[1::2]):
        query = answer["content"].removesuffix("<|seg|>.")
        assert query.lower().removeprefix("the ") in user["content"].lower()
    assert echo_answer("the small red circle") == "The small red circle<|seg|>."
    described = build_dataset("refcoco", root=str(tmp_path), split="train", answer_style="describe")[0]
    assert described.seg_masks is None and described.conversation[1]["content"].startswith("The target is ")
    assert "<|seg|>" not in described.conversation[1]["content"]
    with pytest.raises(Exception, match="answer_style"):  # raised in the loader, wrapped by Hydra's instantiate
        build_dataset("refcoco", root=str(tmp_path), split="train", answer_style="other")


def test_echo_answers_in_video_loaders_and_per_dataset_overrides(tmp_path):
    """`answer_style: echo` reaches the video loaders' referring samples; `per_dataset` sets it for named mixture
    entries only and refuses a key that is not in the mixture."""
    from unipixel.data.mixture import build_dataset, build_mixture
    from unipixel.data.templates import SEG_ANSWERS, echo_answer

    make_toy_data(tmp_path, seed=4, num_train=4, num_val=1, families=["refer_seg", "mevis"], relational=False)
    mevis = build_dataset("mevis", root=str(tmp_path), split="train", answer_style="echo", sample_frames=2)
    sample = mevis[0]
    assert sample.conversation[1]["content"] == echo_answer(sample.meta["query"])
    answer = sample.conversation[1]["content"]
    assert answer.endswith("<|seg|>.") and " <|seg|>" not in answer
    with pytest.raises(Exception, match="answer_style"):
        build_dataset("mevis", root=str(tmp_path), split="train", answer_style="describe")

    mix = build_mixture(
        ["refcoco", "mevis"], root=str(tmp_path), per_dataset={"mevis": {"answer_style": "echo"}}, sample_frames=2
    )
    refcoco, mevis = mix.datasets
    assert (refcoco.answer_style, mevis.answer_style) == ("template", "echo")
    assert refcoco[0].conversation[1]["content"] in SEG_ANSWERS
    with pytest.raises(ValueError, match="not in the mixture"):
        build_mixture(["refcoco"], root=str(tmp_path), per_dataset={"refcocog": {"answer_style": "echo"}})


def test_echo_colour_last_puts_the_colour_where_the_mask_decoder_reads():
    """`colour_last` moves the first colour word of the expression to the end of the echo as "in <colour>", so the
    token before <|seg|> is the colour; expressions without a colour word are echoed unchanged."""
    from unipixel.data.templates import echo_answer, styled_seg_answer

    colours = ("red", "green", "blue", "yellow")
    assert echo_answer("the small red circle", colours) == "The small circle in red<|seg|>."
    assert echo_answer("the Blue shapes", colours) == "The shapes in blue<|seg|>."
    assert echo_answer("the green square moving left", colours) == "The square moving left in green<|seg|>."
    assert echo_answer("the large triangle", colours) == "The large triangle<|seg|>."
    assert echo_answer("the small red circle") == "The small red circle<|seg|>."
    # only referring turns are echoed; the other kinds keep the pool answer whatever colour_last says
    assert styled_seg_answer("echo", "query", "the red star", colour_last=colours) == "The star in red<|seg|>."
    assert styled_seg_answer("template", "query", "the red star", colour_last=colours).count("<|seg|>") == 1
    assert "red" not in styled_seg_answer("echo", "question", "the red star", text="Yes", colour_last=colours)


def test_echo_colour_last_reaches_image_and_video_loaders(tmp_path):
    from unipixel.data.mixture import build_dataset

    make_toy_data(tmp_path, seed=5, num_train=6, num_val=1, families=["refer_seg", "mevis"], relational=False)
    colours = ["red", "green", "blue", "yellow"]
    for name, extra in (("refcoco", {}), ("mevis", {"sample_frames": 2})):
        data = build_dataset(
            name, root=str(tmp_path), split="train", answer_style="echo", echo_colour_last=colours, **extra
        )
        moved = 0
        for i in range(len(data)):
            for turn in data[i].conversation[1::2]:
                head = turn["content"].removesuffix("<|seg|>.").split()
                assert not set(head[:-1]) & set(colours)  # a colour word, if any, is the last one, after "in"
                if head[-1] in colours:
                    assert head[-2] == "in"
                    moved += 1
        assert moved > 0, name
