"""Dataset configs, mixtures and the per-data-type grouped sampler."""

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from tests.data import fixtures as fx
from unipixel.data.base import DATA_TYPES, BaseDataset
from unipixel.data.mixture import (
    DEFAULT_CONFIG_DIR,
    DataTypeGroupedSampler,
    MixtureDataset,
    build_dataset,
    build_mixture,
    parse_mixture,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "data"
DATASET_YAMLS = sorted(p.stem for p in (CONFIGS / "datasets").glob("*.yaml"))
# keys whose loaders belong to the video / region / memory loaders, not written yet
PENDING = {
    "revos",
    "mevis",
    "lvvis",
    "ref_youtube_vos",
    "ref_davis17",
    "ref_sav",
    "groundmore",
    "vicas",
    "videorefer_short_caption_ref",
    "videorefer_detailed_caption",
    "videorefer_qa",
    "videorefer_qa_mem",
    "inst_it_video_qa_raw",
    "inst_it_video_qa_raw_mem",
    "inst_it_image_short_caption_raw_ref",
    "osprey_conversation",
    "osprey_pos_neg",
    "osprey_detail_description",
}


def test_parse_mixture():
    want = [("refcoco", 10), ("reason_seg", 1)]
    assert parse_mixture("refcoco:10,reason_seg") == want
    assert parse_mixture(["refcoco:10", "reason_seg:1"]) == want
    assert parse_mixture([{"refcoco": 10}, "reason_seg"]) == want
    assert parse_mixture({"refcoco": 10, "reason_seg": 1}) == want
    assert parse_mixture(["refcoco+:5"]) == [("refcoco+", 5)]
    with pytest.raises(ValueError, match="bad mixture entry"):
        parse_mixture(["refcoco:0"])


@pytest.mark.parametrize("key", DATASET_YAMLS)
def test_every_dataset_yaml_instantiates_lazily(tmp_path, key):
    ds = build_dataset(key, root=str(tmp_path / "nowhere"))  # nothing is read before the first len / getitem
    assert isinstance(ds, BaseDataset) and ds.name == key and ds.split == "train" and ds.data_type in DATA_TYPES
    assert Path(ds.root) == tmp_path / "nowhere"


def test_mixture_yamls_name_known_keys():
    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = OmegaConf.load(path)
        keys = [k for k, _ in parse_mixture(list(cfg.datasets))]
        missing = set(keys) - set(DATASET_YAMLS)
        assert missing <= PENDING, f"{path.name}: unknown dataset keys {missing - PENDING}"
        assert {"root", "common", "sampler"} <= set(cfg)
    stage3 = OmegaConf.load(CONFIGS / "stage3.yaml")
    assert len(stage3.datasets) == 27 and stage3.common.max_num_words == 200 and stage3.common.max_num_tokens == 40960


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    fx.write_all(root)
    return root


def test_build_mixture_and_locate(root):
    mix = build_mixture(["refcoco:3", "reason_seg:2", "llava_instruct_665k_videogpt_plus_576k"], root=str(root))
    sizes = [len(d) for d in mix.datasets]
    assert sizes == [2, 4, 3] and len(mix) == 2 * 3 + 4 * 2 + 3
    assert mix.locate(0) == (0, 0) and mix.locate(3) == (0, 1) and mix.locate(6) == (1, 0) and mix.locate(16) == (2, 2)
    types = mix.data_types
    assert Counter(types.tolist()) == {"seg_image": 14, "multimodal": 2, "text": 1}
    assert mix[16].data_type == "text" and mix[5].dataset == "refcoco"
    assert "reason_seg" in mix.summary() and "share" in mix.summary()
    with pytest.raises(IndexError):
        mix.locate(len(mix))


def _types(n_a, n_b, n_c=0):
    return ["seg_image"] * n_a + ["multimodal"] * n_b + ["text"] * n_c


@pytest.mark.parametrize("remainder", ["pad", "carry", "drop"])
def test_same_type_on_every_rank_each_step(remainder):
    types = np.array(_types(23, 10, 3), dtype=object)
    world, batch = 4, 2
    per_rank = [list(DataTypeGroupedSampler(types, batch, world, r, seed=1, remainder=remainder)) for r in range(world)]
    assert len({len(p) for p in per_rank}) == 1
    steps = len(per_rank[0]) // batch
    for step in range(steps):
        seen = {types[i] for r in range(world) for i in per_rank[r][step * batch : (step + 1) * batch]}
        assert len(seen) == 1, f"step {step} mixes data types {seen}"
    # ranks never share an index within a group (a DistributedSampler-style split)
    groups = DataTypeGroupedSampler(types, batch, world, 0, seed=1, remainder=remainder).groups()
    for g, group in enumerate(groups):
        slices = [per_rank[r][g * batch : (g + 1) * batch] for r in range(world)]
        assert sum(slices, []) == group.tolist()


def test_pad_keeps_everything_and_logs(caplog):
    types = _types(23, 10, 3)
    with caplog.at_level(logging.INFO):
        sampler = DataTypeGroupedSampler(types, 2, 4, 0, seed=0, remainder="pad")
        groups = sampler.groups()
    covered = set(np.concatenate(groups).tolist())
    assert covered == set(range(len(types)))  # nothing dropped
    assert all(len(g) == 8 for g in groups) and len(groups) == 3 + 2 + 1
    assert "remainder 7 padded with 1 repeated" in caplog.text and "data type text has 3" in caplog.text
    assert len(sampler) == 6 * 2


def test_carry_moves_remainder_to_next_epoch():
    types = _types(10, 0)
    sampler = DataTypeGroupedSampler(types, 4, 1, 0, seed=0, remainder="carry")
    e0 = np.concatenate(sampler.groups(0))
    left = set(range(10)) - set(e0.tolist())
    assert len(e0) == 8 and len(left) == 2
    e1 = np.concatenate(sampler.groups(1))  # 2 carried + 10 fresh = 12 = 3 full groups, nothing left over
    assert len(e1) == 12 and left <= set(e1.tolist())


def test_drop_is_logged(caplog):
    with caplog.at_level(logging.INFO):
        groups = DataTypeGroupedSampler(_types(5, 0), 2, 2, 0, remainder="drop").groups()
    assert len(groups) == 1 and "remainder 1 dropped" in caplog.text


def test_deterministic_by_seed_and_epoch():
    types = _types(40, 17, 5)
    a = DataTypeGroupedSampler(types, 1, 2, 1, seed=5)
    b = DataTypeGroupedSampler(types, 1, 2, 1, seed=5)
    assert list(a) == list(b)
    assert list(a) != list(DataTypeGroupedSampler(types, 1, 2, 1, seed=6))
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    whole = DataTypeGroupedSampler(types, 1, 2, 0, seed=5, shard=False)
    assert len(list(whole)) == 2 * len(first)


def test_dataloader_over_mixture_with_processor(root, processor):
    mix = build_mixture(
        ["refcoco:2", "ade20k", "llava_instruct_665k_videogpt_plus_576k"], root=str(root), processor=processor
    )
    sampler = DataTypeGroupedSampler(mix.data_types, per_device_batch=2, world_size=2, rank=1, seed=0)
    loader = DataLoader(mix, batch_size=2, sampler=sampler, collate_fn=processor.collate, num_workers=0)
    batches = list(loader)
    assert len(batches) == len(sampler) // 2
    assert all(batch["input_ids"].shape[0] == 2 for batch in batches)
    order = list(sampler)
    for step in range(len(order) // 2):
        assert len({mix.data_types[i] for i in order[2 * step : 2 * step + 2]}) == 1


def test_default_config_dir_is_the_repo_configs():
    assert DEFAULT_CONFIG_DIR == CONFIGS / "datasets"


def test_mixture_of_plain_datasets():
    class Tiny:
        def __init__(self, n, kind):
            self.n, self.kind = n, kind

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return (self.kind, i)

        @property
        def data_types(self):
            return [self.kind] * self.n

    mix = MixtureDataset([Tiny(2, "a"), Tiny(3, "b")], [2, 1])
    assert [mix[i] for i in range(len(mix))] == [("a", 0), ("a", 1), ("a", 0), ("a", 1), ("b", 0), ("b", 1), ("b", 2)]
