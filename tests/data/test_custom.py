"""The custom-data format (`unipixel.data.custom`) and its checker: every mask encoding decodes to the mask it was
written from, markers pair with the objects the format says, box-only `<|ref|>` rows train, `[k]` mentions get their
`<|ref|>` like the inference CLI, `<|mem|>` becomes the memory block, video clips keep prompted frames, paths cannot
leave the media root, and the checker's report on a file with five kinds of bad rows is the committed one."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REPO
from tests.data.fixtures import H, W, box, uncompressed_rle, write_image
from unipixel.data import check
from unipixel.data.custom import CustomDataset, RowError, parse_row
from unipixel.data.errors import DataError
from unipixel.data.masks import encode_rle
from unipixel.data.mixture import build_dataset, build_mixture
from unipixel.data.processor import model_inputs
from unipixel.data.templates import MEM, REF, SEG

ROWS = Path(__file__).parent / "custom_rows"


def human(text):
    return {"from": "human", "value": text}


def gpt(text):
    return {"from": "gpt", "value": text}


def write_rows(folder: Path, rows: list[dict]) -> Path:
    path = folder / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def load(path: Path, **kwargs) -> CustomDataset:
    return build_dataset("custom", root=str(path.parent), annotation=path.name, **kwargs)


def polygon(x1, y1, x2, y2):
    """A COCO polygon of the pixel block [x1, x2) x [y1, y2) (its outline on pixel edges)."""
    return [[x1, y1, x2, y1, x2, y2, x1, y2]]


def test_every_mask_encoding_decodes_to_its_mask(tmp_path):
    write_image(tmp_path / "img.jpg")
    a, b, c = box(2, 3, 12, 20), box(30, 5, 40, 15), box(20, 30, 50, 44)
    from PIL import Image

    Image.fromarray(c.astype(np.uint8) * 255).save(tmp_path / "c.png")
    objects = [
        {"masks": [encode_rle(a)]},  # compressed RLE, str counts
        {"masks": [uncompressed_rle(b)]},  # uncompressed RLE, list counts
        {"masks": ["c.png"]},  # PNG path
        {"masks": [polygon(30, 5, 40, 15)]},  # COCO polygon
        {"masks": [[encode_rle(a), encode_rle(b)]]},  # a list of regions, OR-ed
    ]
    answer = "They are <|seg|>, [4] <|seg|>, <|seg|>, <|seg|> and [1] <|seg|>."  # [k] names object k
    rows = [
        {"id": "enc", "image": "img.jpg", "conversations": [human("Segment them."), gpt(answer)], "objects": objects}
    ]
    s = load(write_rows(tmp_path, rows))[0]
    # bare markers count by position: 1st -> object 0, 3rd -> 2, 4th -> 3
    assert s.seg_masks.shape == (5, 1, H, W) and s.data_type == "seg_image" and s.as_video, "Qwen's video path"
    expected = [a, a | b, c, b, b]
    for got, want in zip(s.seg_masks[:, 0], expected):
        assert np.array_equal(got, want)
    assert s.conversation[1]["content"] == answer


def test_box_only_ref_row_trains(tmp_path, processor, tiny_model):
    write_image(tmp_path / "img.jpg")
    rows = [
        {"image": "img.jpg", "conversations": [human("Give me a short description of <|ref|>."), gpt("A red box.")],
         "objects": [{"box": [4, 6, 30.5, 40]}]},
        {"image": "img.jpg", "conversations": [human("What is [0]?"), gpt("A dot.")], "objects": [{"point": [9, 7]}]},
    ]  # fmt: skip
    ds = load(write_rows(tmp_path, rows))
    assert ds.data_types == ["ref_box", "ref_point"]
    s0, s1 = ds[0], ds[1]
    assert s0.seg_masks is None and s0.refer_masks is None
    assert s0.ref_prompts.tolist() == [[1, 4, 6, 30.5, 40, 0]]
    assert s1.conversation[0]["content"] == f"What is [0] {REF}?" and s1.ref_prompts.tolist() == [[0, 9, 7, 0, 0, 0]]
    batch = model_inputs(processor.collate([processor(s0)]))
    tiny_model.train()
    out = tiny_model(**batch)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    grads = [p.grad for n, p in tiny_model.named_parameters() if n.startswith("ref_") and p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads), "the <|ref|> modules get gradients"


def test_ref_tokens_follow_first_mentions_and_memory_block(tmp_path):
    write_image(tmp_path / "img.jpg")
    a, b = box(2, 3, 20, 20), box(30, 20, 50, 40)
    rows = [
        {"image": "img.jpg",
         "conversations": [human("Is [1] left of [0]? Look at [1] again."), gpt("[1] <|seg|> Yes.")],
         "objects": [{"box": [30, 20, 50, 40]}, {"masks": [encode_rle(a)], "prompt": "point"}]},
        {"image": "img.jpg", "conversations": [human("What is [0] <|mem|> doing?"), gpt("Nothing.")],
         "objects": [{"masks": [encode_rle(b)]}]},
    ]  # fmt: skip
    ds = load(write_rows(tmp_path, rows), split="val")
    s0, s1 = ds[0], ds[1]
    assert s0.conversation[0]["content"] == f"Is [1] {REF} left of [0] {REF}? Look at [1] again."
    kinds = s0.ref_prompts[:, 0].tolist()
    assert kinds == [0, 1], "prompt rows follow the <|ref|> tokens: object 1 (a point), then object 0 (a box)"
    x, y = s0.ref_prompts[0, 1:3].astype(int)
    assert a[y, x], "the evaluation click lies inside object 1's mask"
    assert s0.ref_prompts[1].tolist() == [1, 30, 20, 50, 40, 0]
    assert np.array_equal(s0.seg_masks[0, 0], a) and ds.data_types[0] == "mem_point_image"
    assert s1.conversation[0]["content"] == (
        f"Here is an image with the following highlighted regions:\n[0]: {MEM}\nWhat is [0] doing?"
    )
    assert np.array_equal(s1.refer_masks[0, 0], b) and ds.data_types[1] == "region_image"


def test_video_clip_from_annotated_frames_keeps_the_prompt_frame(tmp_path):
    frames = tmp_path / "clip"
    for t in range(12):
        write_image(frames / f"{t}.png", seed=t)
    track = {str(t): encode_rle(box(2 + t, 4, 14 + t, 16)) for t in range(2, 12, 2)}  # frames 2, 4, ..., 10
    rows = [{
        "frames": "clip",
        "conversations": [human("Please segment [0] in this video."), gpt("[0] <|seg|>")],
        "objects": [{"masks": track, "point": [5, 5], "frame": 1}],
    }]  # fmt: skip
    ds = load(write_rows(tmp_path, rows), sample_frames=3, split="val")
    s = ds[0]
    clip = s.meta["frame_indices"]
    assert 1 in clip and set(clip) - {1} <= {2, 4, 6, 8, 10} and len(clip) == 3, clip
    assert s.as_video and s.ref_prompts[0, 5] == clip.index(1)
    for t, frame in enumerate(clip):
        want = box(2 + frame, 4, 14 + frame, 16) if frame % 2 == 0 else np.zeros((H, W), bool)
        assert np.array_equal(s.seg_masks[0, t], want)
    train = load(write_rows(tmp_path, rows), sample_frames=3)
    assert all(1 in train[0].meta["frame_indices"] for _ in range(3))


@pytest.mark.parametrize(
    "row, message",
    [
        ({"image": "../outside.jpg"}, r"\[path\] image: '../outside.jpg' leaves"),
        ({"image": "/etc/passwd"}, r"\[path\] image: '/etc/passwd' is absolute"),
        ({"image": "a.jpg", "imgae": "a.jpg"}, r"\[schema\] unknown fields \['imgae'\]"),
        (
            {"image": "a.jpg", "objects": [{"box": [1, 2, 3, 4]}] * 2},
            r"objects \[1\] have a point or box prompt that no",
        ),
        (
            {"image": "a.jpg", "objects": [{"box": [1, 2, 3, 4]}], "conversations": [human("Hi."), gpt("Hello.")]},
            r"object 0 has a box prompt but no question mentions \[0\] or holds a",
        ),
        ({"image": "a.jpg", "objects": [{"masks": [None], "point": [1, 2], "box": [1, 2, 3, 4]}]}, r"both a point"),
        ({"image": "a.jpg", "task": "seg"}, r"\[schema\] task 'seg' is none of"),
    ],
)
def test_structural_problems_are_named(tmp_path, row, message):
    row = {**row, "conversations": row.get("conversations", [human("Hi <|ref|>."), gpt("Hello.")])}
    with pytest.raises(RowError, match=message):
        parse_row(row, tmp_path, 1)


def test_broken_row_names_file_and_line(tmp_path):
    write_image(tmp_path / "img.jpg")
    rows = [
        {"image": "img.jpg", "conversations": [human("Hi."), gpt("Hello.")]},
        {"image": "img.jpg", "conversations": [human("Segment it."), gpt("<|seg|>")]},
    ]
    path = write_rows(tmp_path, rows)
    ds = load(path)
    assert ds.data_types == ["multimodal", "multimodal"]
    with pytest.raises(
        DataError, match=rf"\[custom\] sample line2: .*the 1st {re.escape(SEG)} refers to object 0.*train.jsonl:2"
    ):
        ds.get_sample(1)


def test_usable_in_a_mixture(tmp_path):
    write_image(tmp_path / "data/mine/img.jpg")
    rows = [{"image": "img.jpg", "conversations": [human("Hi."), gpt("Hello.")]}] * 3
    write_rows(tmp_path / "data/mine", rows)
    mix = build_mixture(
        ["custom:2"], root=str(tmp_path / "data"), per_dataset={"custom": {"annotation": "mine/train.jsonl"}}
    )
    assert len(mix) == 6 and mix[5].dataset == "custom"
    assert not mix[0].as_video, "an image row without objects (general VQA) takes Qwen's image path"
    with pytest.raises(Exception, match="set `annotation` to your JSON-lines file"):
        len(build_dataset("custom", root=str(tmp_path)))  # at the first index access, like every file


def test_checker_report_on_five_kinds_of_bad_rows(capsys):
    code = check.main([str(ROWS / "bad_rows.jsonl")])
    report = capsys.readouterr().out
    assert code == 1
    assert report == (ROWS / "bad_rows.report.txt").read_text()
    assert report.strip() in (REPO / "docs/finetune.md").read_text(), "docs/finetune.md quotes this report"
    kinds = {kind for r in check.check_file(ROWS / "bad_rows.jsonl") for kind, _ in r.problems}
    assert kinds == {"media", "mask-size", "markers", "mask-frames", "prompt"}


def test_checker_passes_good_rows_and_refuses_a_missing_file(tmp_path, capsys):
    write_image(tmp_path / "img.jpg")
    rows = [{"image": "img.jpg", "conversations": [human("Segment it."), gpt("<|seg|>")],
             "objects": [{"masks": [encode_rle(box(2, 2, 9, 9))]}]}]  # fmt: skip
    assert check.main([str(write_rows(tmp_path, rows))]) == 0
    assert "1 rows: 1 ok, 0 bad" in capsys.readouterr().out
    assert check.main([str(tmp_path / "nope.jsonl")]) == 2


def test_console_script_is_declared():
    from tests.conftest import REPO

    line = 'unipixel-check-data = "unipixel.data.check:main"'
    assert line in (REPO / "pyproject.toml").read_text().splitlines()
