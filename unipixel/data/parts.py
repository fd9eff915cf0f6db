"""Object-part segmentation from COCO-format part annotations: PACO-LVIS and Pascal-Part (keys `paco_lvis`,
`pascal_part`).

Files (relative to the data root; defaults in each key's YAML):
    paco_lvis    lisa/vlpart/paco/annotations/paco_lvis_v1_{train,val}.json, images lisa/coco/<file_name>
    pascal_part  lisa/vlpart/pascal_part/train.json, images lisa/vlpart/pascal_part/VOCdevkit/VOC2010/JPEGImages/

Category names are `object:part` (or a bare object name); an LVIS disambiguation suffix `_(...)` is dropped and
underscores become spaces. A part is asked as "{object} {part}" or "{part} of the {object}" (50/50; the first
wording at evaluation). Each sample draws up to `max_conv_turns` categories of the image; with `merge_instances`
(default) the answer mask of a category is the union of its instances in the image, so a query such as "dog leg" is
never answered with one arbitrary leg (upstream draws single annotations instead).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .base import BaseDataset
from .errors import DataError
from .io import load_json
from .masks import decode_regions
from .processor import Sample
from .templates import part_query, seg_answer, seg_question


def parse_category(name: str) -> tuple[str, str] | str:
    """`"dog:leg"` → `("dog", "leg")`; `"bow_(weapon)"` → `"bow"`; underscores become spaces."""

    def clean(s: str) -> str:
        return s.split("_(")[0].replace("_", " ").strip()

    parts = name.strip().split(":")
    if len(parts) == 1:
        return clean(parts[0])
    if len(parts) == 2:
        return clean(parts[0]), clean(parts[1])
    raise ValueError(f"category name {name!r} has more than one ':'")


class PartSegDataset(BaseDataset):
    """Object and part queries over COCO-format instance annotations (data type `seg_image`).

    Args:
        annotations: `{split: COCO JSON}` (images, annotations with polygon/RLE `segmentation`, categories).
        image_dir: folder joined with `images[].file_name`.
        merge_instances: answer a category with the union of its instances (see the module docstring).
        **kwargs: `BaseDataset` arguments.
    """

    key = "paco_lvis"
    data_type = "seg_image"

    def __init__(
        self, annotations: dict | None = None, image_dir: str = "lisa/coco", merge_instances: bool = True, **kwargs
    ):
        super().__init__(**kwargs)
        if not annotations or self.split not in annotations:
            raise ValueError(f"{self.name}: `annotations` must name a JSON file for split {self.split!r}")
        self.annotation_file = self.path(annotations[self.split])
        self.image_dir = self.path(image_dir)
        self.merge_instances = merge_instances
        self._categories: dict[int, tuple[str, str] | str] = {}

    def load_index(self) -> list[dict]:
        data = load_json(self.annotation_file, self.name)
        try:
            self._categories = {c["id"]: parse_category(c["name"]) for c in data["categories"]}
            anns = defaultdict(list)
            for ann in data["annotations"]:
                anns[ann["image_id"]].append((ann["category_id"], ann["segmentation"]))
            images = data["images"]
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(self.name, "-", self.annotation_file, f"malformed COCO annotation file: {exc!r}") from exc
        records = []
        for img in images:
            if not anns.get(img["id"]):
                continue
            rec = {"id": str(img["id"]), "anns": anns[img["id"]]}
            try:
                name = img.get("file_name")
                rec["file"] = self.inside(self.image_dir, name, rec["id"], self.annotation_file, "image")
            except DataError as err:
                rec.update(file=self.annotation_file, error=err.msg)
            records.append(rec)
        return records

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        frames = self.read_image(record["file"], rid)
        height, width = frames.shape[1:3]
        groups: dict = defaultdict(list)  # category (or single annotation) → segmentations
        for i, (cat, seg) in enumerate(record["anns"]):
            groups[cat if self.merge_instances else (cat, i)].append(seg)
        keys = list(groups)
        if self.training:
            pick = rng.choice(len(keys), size=min(self.max_conv_turns, len(keys)), replace=False)
            keys = [keys[i] for i in pick]
        else:
            keys = keys[:1]
        trng = rng if self.training else None
        turns, masks, queries = [], [], []
        for key in keys:
            cat = key if self.merge_instances else key[0]
            if cat not in self._categories:
                raise DataError(self.name, rid, self.annotation_file, f"category id {cat} is not in `categories`")
            name = self._categories[cat]
            query = part_query(*name, trng) if isinstance(name, tuple) else name
            masks.append(decode_regions(groups[key], height, width))
            queries.append(query)
            turns.append((seg_question("query", query, False, trng), seg_answer("query", trng)))
        masks = np.stack(masks)[:, None]  # (O, 1, H, W)
        meta = {"path": str(record["file"]), "queries": queries}
        conv = self.turns_to_conversation(turns)
        if self.training:
            return Sample(rid, self.name, frames, conv, seg_masks=masks, data_type=self.data_type, meta=meta)
        meta["gt_masks"] = masks
        return Sample(rid, self.name, frames, conv, data_type=self.data_type, meta=meta)
