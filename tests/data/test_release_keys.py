"""The 35 dataset keys the original release registers (its dataset catalogue: 34 training / evaluation keys plus
Video-MME) each have a YAML under `configs/data/datasets/`, a loader class, and load a sample from a fixture written
in that dataset's release format. Keys this repository adds (`pixelqa`, `custom`) are checked elsewhere."""

from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.data import fixtures as fx
from tests.data import video_fixtures as vf
from unipixel.data.base import BaseDataset
from unipixel.data.mixture import DEFAULT_CONFIG_DIR, build_dataset

RELEASE_KEYS = (
    # image referring / reasoning / semantic / part segmentation
    "refcoco", "refcoco+", "refcocog", "refclef", "reason_seg", "ade20k", "cocostuff", "mapillary", "paco_lvis",
    "pascal_part",
    # video referring / reasoning segmentation
    "revos", "mevis", "lvvis", "ref_youtube_vos", "ref_davis17", "ref_sav", "ref_sav_eval", "groundmore", "vicas",
    # region understanding, <|ref|> and memory tasks
    "videorefer_short_caption", "videorefer_detailed_caption", "videorefer_qa", "videorefer_short_caption_ref",
    "videorefer_qa_mem", "inst_it_video_qa_raw", "inst_it_image_short_caption_raw_ref", "inst_it_video_qa_raw_mem",
    "osprey_conversation", "osprey_pos_neg", "osprey_detail_description",
    # general instruction data
    "llava_instruct_665k_videogpt_plus_576k",
    # evaluation only
    "videorefer_bench_q", "videorefer_bench_d", "mvbench", "videomme",
)  # fmt: skip
REFER = {
    "refcoco": ("unc", "lisa/refer_seg/images/mscoco/images/train2014"),
    "refcoco+": ("unc", "lisa/refer_seg/images/mscoco/images/train2014"),
    "refcocog": ("umd", "lisa/refer_seg/images/mscoco/images/train2014"),
    "refclef": ("unc", "lisa/refer_seg/images/saiapr_tc-12"),
}


def write_fixture(key: str, root: Path) -> dict:
    """The fixture of `key` under `root`; returns the extra `build_dataset` arguments it needs."""
    if key in REFER:
        fx.write_refer(root, key, *REFER[key])
    elif key == "reason_seg":
        fx.write_reason_seg(root)
    elif key in fx.SEMANTIC:
        fx.write_semantic(root, key)
    elif key in fx.PARTS:
        fx.write_parts(root, key)
    elif key == "llava_instruct_665k_videogpt_plus_576k":
        fx.write_llava(root)
    elif key in ("revos", "mevis", "lvvis", "ref_sav_eval"):
        vf.write_meta_expressions(root, key)
        return {"split": "valid"} if key == "ref_sav_eval" else {}
    elif key in ("ref_youtube_vos", "ref_davis17", "ref_sav", "groundmore", "vicas"):
        getattr(vf, f"write_{key}")(root)
    elif key.startswith("videorefer_bench"):
        vf.write_videorefer_bench(root)
    elif key.startswith("videorefer"):
        vf.write_videorefer(root)
    elif key.startswith("inst_it"):
        vf.write_inst_it(root)
    elif key.startswith("osprey"):
        vf.write_osprey(root)
    elif key == "mvbench":
        vf.write_mvbench(root)
        return {"tasks": ["Episodic Reasoning"]}
    elif key == "videomme":
        pytest.importorskip("pyarrow", reason="Video-MME's parquet needs pyarrow (the dev extra installs it)")
        vf.write_videomme(root)
    else:
        raise AssertionError(f"no fixture for {key}")
    return {}


def test_35_release_keys_have_a_yaml_and_a_loader():
    assert len(RELEASE_KEYS) == len(set(RELEASE_KEYS)) == 35
    assert Path(DEFAULT_CONFIG_DIR) == REPO / "configs/data/datasets"
    have = [k for k in RELEASE_KEYS if (REPO / f"configs/data/datasets/{k}.yaml").is_file()]
    assert have == list(RELEASE_KEYS), f"missing: {sorted(set(RELEASE_KEYS) - set(have))}"
    for key in RELEASE_KEYS:
        dataset = build_dataset(key, root="no_data_here")  # nothing is read before the first index access
        assert isinstance(dataset, BaseDataset) and dataset.name == key


@pytest.mark.parametrize("key", RELEASE_KEYS)
def test_release_key_loads_a_sample_from_its_fixture(tmp_path, key):
    extra = write_fixture(key, tmp_path)
    dataset = build_dataset(key, root=str(tmp_path), **extra)
    assert len(dataset) > 0
    sample = dataset.get_sample(0)
    assert sample.dataset == key and sample.conversation
