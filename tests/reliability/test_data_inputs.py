"""Bad annotation inputs the fuzz suite does not spell out: counts that must survive DataLoader workers, a split that
keeps its size when an image is missing, folders allowed outside the root, and where index-time errors point."""

import json
import logging
import os
import pickle

import numpy as np
import pytest
import torch

from tests.data import fixtures as fx
from unipixel.data.base import BaseDataset
from unipixel.data.errors import DataError
from unipixel.data.io import load_json
from unipixel.data.mixture import build_dataset
from unipixel.data.processor import Sample


def test_reason_seg_json_without_image_stays_a_sample(tmp_path):
    """Before: the index listed `*.jpg` only, so a JSON whose image was missing vanished (40 -> 39 samples)."""
    fx.write_reason_seg(tmp_path)
    (tmp_path / "lisa/reason_seg/ReasonSeg/val/c.jpg").unlink()
    val = build_dataset("reason_seg", root=str(tmp_path), split="val")
    assert len(val) == 1
    with pytest.raises(DataError, match=r"\[reason_seg\] sample c_0: image file not found.*val/c\.jpg"):
        val[0]
    (tmp_path / "lisa/reason_seg/ReasonSeg/val/c.json").unlink()
    fx.write_image(tmp_path / "lisa/reason_seg/ReasonSeg/val/c.jpg")
    val = build_dataset("reason_seg", root=str(tmp_path), split="val")
    with pytest.raises(DataError, match=r"sample c_0: annotation JSON not found.*val/c\.json"):
        val[0]


def test_outside_path_is_refused_unless_its_folder_is_an_extra_root(tmp_path):
    root = tmp_path / "data"
    fx.write_refer(root)
    fx.write_image(tmp_path / "elsewhere/photo.jpg")
    path = root / "lisa/refer_seg/refcoco/instances.json"
    data = json.loads(path.read_text())
    image_dir = root / "lisa/refer_seg/images/mscoco/images/train2014"
    data["images"][1]["file_name"] = os.path.relpath(tmp_path / "elsewhere/photo.jpg", image_dir)  # the val refs
    path.write_text(json.dumps(data))
    val = build_dataset("refcoco", root=str(root), split="val")
    with pytest.raises(DataError, match=r"sample 3_4: image '\.\./.*photo\.jpg' leaves the data root") as err:
        val[0]
    assert err.value.path.name == "instances.json"
    data["images"][1]["file_name"] = str(tmp_path / "elsewhere/photo.jpg")  # an absolute path is no different
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="leaves the data root"):
        build_dataset("refcoco", root=str(root), split="val")[0]
    allowed = build_dataset("refcoco", root=str(root), split="val", extra_roots=["../elsewhere"])
    assert allowed[0].meta["path"] == str(tmp_path / "elsewhere/photo.jpg")


def test_index_time_type_errors_name_row_and_file(tmp_path):
    fx.write_refer(tmp_path)
    refs_file = tmp_path / "lisa/refer_seg/refcoco/refs(unc).p"
    refs = pickle.loads(refs_file.read_bytes())
    refs[1]["sentences"] = "a string"
    refs_file.write_bytes(pickle.dumps(refs, protocol=2))
    with pytest.raises(DataError, match=r"\[refcoco\] sample ref 1: .*`sentences` must be a list") as err:
        len(build_dataset("refcoco", root=str(tmp_path)))
    assert err.value.path == refs_file
    instances = tmp_path / "lisa/refer_seg/refcoco/instances.json"
    instances.write_text(json.dumps({"images": [], "annotations": "oops"}))
    with pytest.raises(DataError, match=r"`annotations` must be a list.*instances\.json"):
        len(build_dataset("refcoco", root=str(tmp_path)))


def test_non_utf8_annotation_names_file_and_offset(tmp_path):
    path = tmp_path / "meta.json"
    path.write_bytes(b'{\n  "videos": {"v\xe9": {}}\n}')
    with pytest.raises(DataError, match=r"\[mevis\] sample -: not UTF-8 text: byte b'\\xe9' at offset 17 \(line 2\)"):
        load_json(path, "mevis")


class HalfBroken(BaseDataset):
    """Odd indices fail: a DataError naming the sample and a file."""

    key = "half_broken"

    def load_index(self):
        return [{"id": f"s{i}", "file": f"/data/s{i}.json"} for i in range(16)]

    def build(self, record, rng):
        if int(record["id"][1:]) % 2:
            raise DataError(self.name, record["id"], record["file"], "broken on purpose")
        frames = np.zeros((1, 8, 8, 3), np.uint8)
        return Sample(record["id"], self.name, frames, [{"role": "user", "content": "hi"}], data_type="seg_image")


def load_all(ds, workers: int):
    loader = torch.utils.data.DataLoader(
        ds, batch_size=None, num_workers=workers, collate_fn=lambda s: s.id, multiprocessing_context="fork"
    )
    return list(loader)


def test_replacements_are_counted_over_all_workers(tmp_path, caplog):
    """Before: each worker kept its own counters (the summary showed nothing replaced) and max_broken applied per
    worker. 8 of 16 indices are broken; two workers load 8 each."""
    ds = HalfBroken(root=str(tmp_path), max_broken=100)
    len(ds)
    with caplog.at_level(logging.WARNING):
        ids = load_all(ds, workers=2)
    assert len(ids) == 16 and all(int(i[1:]) % 2 == 0 for i in ids)
    assert ds.counts()["broken"] >= 8 and "broken=" in ds.summary()
    tight = HalfBroken(root=str(tmp_path), max_broken=6)  # at most ~4-5 per worker: only the total exceeds 6
    len(tight)
    with pytest.raises(RuntimeError, match=r"broken samples \(all workers\) exceed max_broken=6"):
        load_all(tight, workers=2)
