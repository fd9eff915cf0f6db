"""The toy generator's video / region / benchmark formats (`make_toy_data`, the `--small` preset of
`tools/make_toy_data.py`) load unchanged through the loaders, go through the processor, and train the tiny model."""

import numpy as np
import pytest

from tests.data.helpers import check_sample, forward
from unipixel.data.mixture import build_dataset
from unipixel.data.toy import SMALL, load_manifest, make_toy_data

# (dataset key, split, extra arguments)
TOY_CASES = [
    ("mevis", "train", {}),
    ("mevis", "valid_u", {}),
    ("revos", "train", {}),
    ("revos", "valid", {}),
    ("ref_youtube_vos", "train", {}),
    ("ref_youtube_vos", "valid", {}),
    ("ref_davis17", "train", {}),
    ("ref_davis17", "valid", {}),
    ("ref_sav", "train", {}),
    ("ref_sav_eval", "valid", {}),
    ("videorefer_short_caption", "train", {}),
    ("videorefer_detailed_caption", "train", {}),
    ("videorefer_qa", "train", {}),
    ("videorefer_short_caption_ref", "train", {}),
    ("videorefer_qa_mem", "train", {}),
    ("videorefer_bench_q", "test", {"mask_mode": "single"}),
    ("videorefer_bench_q", "test", {"mask_mode": "multi"}),
    ("videorefer_bench_d", "test", {}),
    ("pixelqa", "test", {"prompt_mode": "mix"}),
]


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    make_toy_data(root, seed=0, **SMALL)
    return root


def test_every_toy_format_loads(toy_root, processor, tiny_model):
    manifest = load_manifest(toy_root)["datasets"]
    batch = {}
    for key, split, extra in TOY_CASES:
        ds = build_dataset(key, root=str(toy_root), split=split, strict=True, **extra)
        assert len(ds) > 0, key
        base = key.replace("_eval", "").replace("_ref", "").replace("_mem", "").replace("pixelqa", "videorefer_bench_q")
        if base in manifest and split in manifest[base]["counts"] and "expressions" in manifest[base]["counts"][split]:
            skipped = ds.stats["skipped_no_object"]
            assert len(ds) + skipped == manifest[base]["counts"][split]["expressions"], key
        for i in range(len(ds)):
            s = ds[i]
            if split == "train":
                check_sample(s, processor)
                batch.setdefault(s.data_type.split("_")[0], s)
            else:
                item = processor(s, add_generation_prompt=s.conversation[-1]["role"] == "user")
                if "llm_frame_index" in s.meta:
                    assert item["sam2_frames"].shape[0] == len(s.frames)
    assert set(batch) == {"seg", "region", "ref", "mem"}
    out = forward(tiny_model, processor, [batch["seg"], batch["mem"]])
    assert out.mask_loss > 0
    forward(tiny_model, processor, [batch["region"], batch["ref"]])


def test_toy_ref_davis17_pickle_is_in_json_order(toy_root):
    """B10 on the toy data: the pickle's running index follows the JSON order (the PNG annotations agree)."""
    pkl = build_dataset("ref_davis17", root=str(toy_root), split="valid")
    png = build_dataset("ref_davis17", root=str(toy_root), split="valid", mask_source="png")
    srt = build_dataset("ref_davis17", root=str(toy_root), split="valid", mask_order="sorted")
    assert len(pkl) == 12
    disagree = 0
    for i in range(len(pkl)):
        a, b, c = pkl[i].meta["gt_masks"], png[i].meta["gt_masks"], srt[i].meta["gt_masks"]
        assert np.array_equal(a, b), pkl[i].id
        disagree += not np.array_equal(a, c)
    assert disagree > 0, "ids '10', '11' sort before '2': the sorted count differs"
