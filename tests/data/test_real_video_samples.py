"""Video loaders on the real annotation samples in ../shared/real_samples (skipped when absent): the codalab
Ref-YouTube-VOS valid meta (expressions without obj_id, clips starting at frame 00110), an SA-V manual annotation
(zero-area RLEs for absent objects, every 4th frame) and a ViCaS split list (ints). Files are read in place or copied
to tmp_path; media they reference are replaced by small synthetic ones."""

import json
import shutil

import numpy as np
import pytest

from tests.conftest import SHARED
from tests.data import video_fixtures as vf
from tests.data.fixtures import write_video
from unipixel.data.errors import DataError
from unipixel.data.masks import decode_rle, encode_rle, resize_mask, sav_visibility
from unipixel.data.mixture import build_dataset

REAL = SHARED / "real_samples"
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real_samples not available")


def test_ref_youtube_vos_real_valid_meta(tmp_path, processor):
    meta_dir = tmp_path / "ref_youtube_vos/meta_expressions/valid"
    meta_dir.mkdir(parents=True)
    shutil.copy(REAL / "ref_youtube_vos/meta_expressions/valid/meta_expressions.json", meta_dir)
    videos = json.loads((meta_dir / "meta_expressions.json").read_text())["videos"]
    vf.write_frames(tmp_path / "ref_youtube_vos/valid/JPEGImages/03deb7ad95", videos["03deb7ad95"]["frames"])
    ds = build_dataset("ref_youtube_vos", root=str(tmp_path), split="valid")
    assert len(ds) == sum(len(v["expressions"]) for v in videos.values()) == 38
    ids = [r["id"] for r in ds.index]
    s = ds[ids.index("03deb7ad95/0")]
    assert s.frames.shape[0] == 19 and s.meta["frame_names"][0] == "00110", "clips may start late"
    assert "gt_masks" not in s.meta and s.conversation[0]["content"] == (
        "Please segment the black backpack being used by a man holding a red umbrella in this video."
    )
    assert len(s.meta["llm_frame_index"]) == 16 and s.meta["llm_frame_index"][-1] == 18
    item = processor(s, add_generation_prompt=True)
    assert item["sam2_frames"].shape[0] == 19


def test_sav_real_manual_annotation(tmp_path):
    anno = json.loads((REAL / "ref_sav/sav_000001_manual.json").read_text())
    frames = int(anno["video_frame_count"])  # 483 frames, 121 annotated (every 4th)
    # a small stand-in video with the real frame count (848 x 480 portrait scaled by 1/8), and the real masklet
    # scaled the same way (a mask is never stretched to a frame of another size: the unscaled file is an error)
    write_video(tmp_path / "sav/sav_train/sav_000/sav_000001.mp4", num_frames=frames, fps=24, height=106, width=60)
    shutil.copy(REAL / "ref_sav/sav_000001_manual.json", tmp_path / "sav/sav_train/sav_000/")
    meta = {"sav_000001": {"video_path": "sav/sav_train/sav_000/sav_000001.mp4",
                           "anno_path": "sav/sav_train/sav_000/sav_000001_manual.json",
                           "objects": {str(k): {"video_id": "sav_000001", "obj_id": k, "formated": f"Object {k}."}
                                       for k in range(5)}}}  # fmt: skip
    vf.dump(tmp_path / "ref_sav/Ref-SAV-Min-Ratio-0.3.json", meta)
    unscaled = build_dataset("ref_sav", root=str(tmp_path), split="valid", llm_frames=8)
    with pytest.raises(DataError, match=r"object 0: .*masklet frame 0, object 0 is stored at 848 x 480 .* 106 x 60"):
        unscaled[0]
    masklet = [[encode_rle(resize_mask(decode_rle(r), 106, 60)) for r in f] for f in anno["masklet"]]
    scaled = {**anno, "masklet": masklet}
    vf.dump(tmp_path / "sav/sav_train/sav_000/sav_000001_manual.json", scaled)
    ds = build_dataset("ref_sav", root=str(tmp_path), split="valid", llm_frames=8)  # evaluation: every annotated frame
    for k in range(5):
        s = ds[k]
        assert s.frames.shape == (121, 106, 60, 3) and len(s.meta["llm_frame_index"]) == 8
        present = s.meta["gt_masks"][0].reshape(121, -1).any(1)
        visible = sav_visibility(anno["masklet"], k)
        # zero-area RLEs decode empty; tiny objects may vanish at 1/8 scale but never appear from nothing
        assert not (present & ~visible).any() and present.sum() >= 0.8 * visible.sum()
    assert (~sav_visibility(anno["masklet"], 0)).any(), "the sample has absent frames (zero-area RLEs)"
    train = build_dataset("ref_sav", root=str(tmp_path))
    s = train[0]
    pos = np.asarray(s.meta["frame_indices"])
    assert len(pos) == 8 and pos.max() < 121


def test_vicas_real_split_ids(tmp_path):
    split = json.loads((REAL / "vicas/splits/v1.0/val.json").read_text())
    assert all(isinstance(i, int) for i in split)
    (tmp_path / "vicas/splits/v1.0").mkdir(parents=True)
    shutil.copy(REAL / "vicas/splits/v1.0/val.json", tmp_path / "vicas/splits/v1.0/val.json")
    vf.write_vicas(tmp_path / "other")  # borrow the fixture's annotation layout for the first id of the list
    annos = json.loads((tmp_path / "other/vicas/annotations/annotations_wo_masks_v1.0.json").read_text())
    key = str(split[0]).zfill(6)
    anno = {**annos["000012"], "filename": f"{key}.mp4"}
    vf.dump(tmp_path / "vicas/annotations/annotations_wo_masks_v1.0.json", {key: anno})
    ds = build_dataset("vicas", root=str(tmp_path), split="val")
    index = ds.index
    assert index[0]["id"] == f"{key}_0" and len(index) == 2 + len(split) - 1
    assert index[2]["id"] == str(split[1]).zfill(6) and "not in the annotation file" in index[2]["error"]
