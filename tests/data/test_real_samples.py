"""Loaders and decoders on the real annotation samples in ../shared/real_samples (skipped when absent). The files
are read in place or copied to tmp_path only; never into the repository."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED
from tests.data.helpers import check_sample
from unipixel.data.errors import DataError
from unipixel.data.io import load_json
from unipixel.data.masks import decode_index_masks, decode_sav, sav_visibility
from unipixel.data.mixture import build_dataset
from unipixel.data.safe_pickle import safe_load

REAL = SHARED / "real_samples"
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real_samples not available")


def blank_jpg_for(json_path, out_path):
    """A JPG large enough for the polygons of a ReasonSeg JSON (the real JSON has no image size)."""
    shapes = json.loads(json_path.read_text())["shapes"]
    pts = np.concatenate([np.asarray(s["points"], float) for s in shapes])
    width, height = int(pts[:, 0].max()) + 16, int(pts[:, 1].max()) + 16
    Image.fromarray(np.full((height, width, 3), 127, np.uint8)).save(out_path)
    return height, width


@pytest.fixture
def reason_root(tmp_path):
    base = tmp_path / "lisa/reason_seg/ReasonSeg"
    for split in ("train", "val"):
        (base / split).mkdir(parents=True)
        for src in sorted((REAL / "reason_seg" / split).glob("*.json")):
            shutil.copy(src, base / split / src.name)
            blank_jpg_for(src, base / split / f"{src.stem}.jpg")
    (base / "explanatory").mkdir()
    shutil.copy(REAL / "reason_seg/explanatory/train.json", base / "explanatory/train.json")
    return tmp_path


def test_reason_seg_real(reason_root, processor):
    val = build_dataset("reason_seg", root=str(reason_root), split="val")
    samples = {s.id: s for s in (val[i] for i in range(len(val)))}
    assert set(samples) == {"101677526_e9a3ba3ae1_o_0", "109955815_034917e9d0_o_0"}
    hard = samples["109955815_034917e9d0_o_0"]  # target + ignore + flag; is_sentence
    assert hard.conversation[0]["content"].endswith("? Please provide the segmentation mask.")
    gt, ignore = hard.meta["gt_masks"][0, 0], hard.meta["ignore_masks"][0, 0]
    assert gt.sum() > 1000 and ignore.sum() > 100 and not (gt & ignore).any()
    assert set(np.unique(hard.meta["label_map"])) == {-1, 0, 1}
    short = samples["101677526_e9a3ba3ae1_o_0"]  # is_sentence false: short query wording
    want = "Please segment the something used for playing videos or music in this image."
    assert short.conversation[0]["content"] == want

    train = build_dataset("reason_seg", root=str(reason_root))
    ids = [r["id"] for r in train.index]
    assert len(ids) == 6 + 1 and ids[-1] == "10619389843_339d3c9434_o_exp"  # 6 paraphrases + 1 explanatory row
    assert train.stats["explanatory_missing"] == 2  # the other two rows name images not in this sample
    exp = train[6]
    assert exp.conversation[1]["content"].split("<|seg|>")[1].startswith(". When eating a bowl of soup, a spoon")
    check_sample(exp, processor)


def test_refcoco_real_pickle_and_unjoinable_records(tmp_path):
    refs = safe_load(REAL / "refcoco/refs(unc).first_record.p")
    assert refs == json.loads((REAL / "refcoco/refs(unc).first_record.json").read_text())
    ref = refs[0]
    assert ref["split"] == "train" and ref["ann_id"] == 1719310 and ref["sentences"][0]["raw"].isupper()
    anno = tmp_path / "lisa/refer_seg/refcoco"
    anno.mkdir(parents=True)
    shutil.copy(REAL / "refcoco/refs(unc).first_record.p", anno / "refs(unc).p")
    shutil.copy(REAL / "refcoco/instances.first_records.json", anno / "instances.json")
    ds = build_dataset("refcoco", root=str(tmp_path), strict=True)
    assert len(ds) == 1 and ds.index[0]["id"] == "581857"
    # the sample's ref points at image 581857 / ann 1719310, neither of which is in the sampled instances
    with pytest.raises(DataError, match=r"\[refcoco\] sample 581857: image 581857 not in instances.json") as err:
        ds[0]
    assert err.value.path.name == "instances.json"


def test_davis_palette_pngs():
    folder = REAL / "davis17_palette_png/bike-packing"
    frames = [folder / "00000.png", folder / "00010.png"]
    masks = decode_index_masks(frames, [1, 2, [1, 2]], 480, 910)
    assert masks.shape == (3, 2, 480, 910)
    assert masks[0, 0].sum() == 35026 and masks[1, 0].sum() == 43740 and masks[2, 1].sum() == 29056 + 56229
    with pytest.raises(DataError, match="label map is stored at 480 x 910 .* frame is 240 x 455"):
        decode_index_masks(frames[:1], [1], 240, 455)  # never stretched to fit


def test_llava_real_rows(tmp_path, processor):
    rows = json.loads((REAL / "llava_665k/llava_v1_5_mix665k.first2.json").read_text())
    path = tmp_path / "general/llava_v1_5_mix665k_with_videogpt_plus_576k.json"
    path.parent.mkdir(parents=True)
    shutil.copy(REAL / "llava_665k/llava_v1_5_mix665k.first2.json", path)
    for row in rows:
        image = tmp_path / "llava_instruct" / row["image"]
        image.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((60, 80, 3), 90, np.uint8)).save(image)
    ds = build_dataset("llava_instruct_665k_videogpt_plus_576k", root=str(tmp_path))
    first = ds[0]
    assert first.id == "000000033471" and not first.as_video and first.data_type == "multimodal"
    assert first.conversation[0]["content"] == "What are the colors of the bus in the image?"
    assert len(first.conversation) == 6 and first.conversation[-1]["role"] == "assistant"
    check_sample(first, processor)


def test_vicas_split_list():
    ids = load_json(REAL / "vicas/splits/v1.0/val.json")
    assert len(ids) == 2950 and all(isinstance(i, int) for i in ids)
    assert str(ids[0]).zfill(6) == "000002"


def test_sav_masklet_decoding():
    anno = load_json(REAL / "ref_sav/sav_000001_manual.json")
    masklet = anno["masklet"]
    assert len(masklet) == 121 and int(anno["video_frame_count"]) == 483  # every 4th frame annotated
    visible = np.stack([sav_visibility(masklet, k) for k in range(5)])
    assert (~visible).sum() == 125  # zero-area RLEs = absent
    masks = decode_sav(masklet, [0, 4], [0, 60, 120])
    assert masks.shape == (2, 3, 848, 480) and masks.dtype == bool
    assert masks[:, :, :, :].reshape(6, -1).any(1).tolist() == visible[[0, 0, 0, 4, 4, 4], [0, 60, 120] * 2].tolist()
