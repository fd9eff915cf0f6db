"""Semantic-segmentation label maps as referring data: ADE20K, COCO-Stuff, Mapillary Vistas v2.0 (keys `ade20k`,
`cocostuff`, `mapillary`).

Files (relative to the data root; the defaults live in each key's YAML):
    ade20k     images lisa/ade20k/images/{training,validation}/*.jpg, labels lisa/ade20k/annotations/{...}/*.png
    cocostuff  images lisa/coco/{train2017,val2017}/*.jpg, labels lisa/cocostuff/{train2017,val2017}/*.png
    mapillary  images lisa/mapillary/{training,validation}/images/*.jpg, labels .../v2.0/labels/*.png

A label PNG holds one class id per pixel (grey or palette); class names and ignored ids are in `classes.py`. Each
sample draws up to `max_conv_turns` of the classes present (ignored ids excluded) and asks for each by name, one
`<|seg|>` per turn whose mask is that class's pixels. Outside training one sample asks for the first present class.
"""

from __future__ import annotations

import numpy as np

from .base import BaseDataset
from .classes import CLASS_LISTS
from .errors import DataError
from .io import read_label_png
from .masks import resize_nearest
from .processor import Sample
from .templates import seg_answer, seg_question


class SemanticSegDataset(BaseDataset):
    """Class-name queries over semantic label maps (data type `seg_image`).

    Args:
        classes: `ade20k`, `cocostuff` or `mapillary` (picks the name list and ignored ids; also the default key).
        image_dirs, label_dirs: `{split: folder}`; an image is `<image folder>/<label stem><image_ext>`.
        image_ext: image file extension.
        ignore_ids: ids never queried (default: the list's own, see `classes.py`).
        **kwargs: `BaseDataset` arguments.
    """

    data_type = "seg_image"

    def __init__(
        self,
        classes: str = "ade20k",
        image_dirs: dict | None = None,
        label_dirs: dict | None = None,
        image_ext: str = ".jpg",
        ignore_ids: list[int] | None = None,
        **kwargs,
    ):
        kwargs.setdefault("name", classes)
        super().__init__(**kwargs)
        if classes not in CLASS_LISTS:
            raise ValueError(f"unknown class list {classes!r}; expected one of {sorted(CLASS_LISTS)}")
        self.class_names, default_ignore = CLASS_LISTS[classes]
        self.ignore_ids = np.asarray(default_ignore if ignore_ids is None else ignore_ids, dtype=np.int64)
        if image_dirs is None or label_dirs is None or self.split not in image_dirs or self.split not in label_dirs:
            raise ValueError(f"{self.name}: image_dirs / label_dirs must name a folder for split {self.split!r}")
        self.image_dir, self.label_dir = self.path(image_dirs[self.split]), self.path(label_dirs[self.split])
        self.image_ext = image_ext

    def load_index(self) -> list[dict]:
        if not self.label_dir.is_dir():
            raise DataError(self.name, "-", self.label_dir, "label folder not found")
        return [
            {"id": png.stem, "file": png, "image": self.image_dir / f"{png.stem}{self.image_ext}"}
            for png in sorted(self.label_dir.glob("*.png"))
        ]

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid = record["id"]
        frames = self.read_image(record["image"], rid)
        height, width = frames.shape[1:3]
        label = resize_nearest(read_label_png(record["file"], self.name, rid), height, width)
        present = np.unique(label)
        present = present[~np.isin(present, self.ignore_ids) & (present < len(self.class_names))]
        if len(present) == 0:
            raise DataError(self.name, rid, record["file"], "no labelled class in the label map")
        if self.training:
            chosen = rng.choice(present, size=min(self.max_conv_turns, len(present)), replace=False)
        else:
            chosen = present[:1]
        trng = rng if self.training else None
        names = [self.class_names[int(c)] for c in chosen]
        turns = [(seg_question("query", name, False, trng), seg_answer("query", trng)) for name in names]
        masks = (label[None] == np.asarray(chosen)[:, None, None])[:, None]  # (O, 1, H, W)
        meta = {
            "path": str(record["file"]),
            "image": str(record["image"]),
            "class_ids": chosen.tolist(),
            "queries": names,
        }
        conv = self.turns_to_conversation(turns)
        if self.training:
            return Sample(rid, self.name, frames, conv, seg_masks=masks, data_type=self.data_type, meta=meta)
        meta["gt_masks"] = masks
        return Sample(rid, self.name, frames, conv, data_type=self.data_type, meta=meta)
