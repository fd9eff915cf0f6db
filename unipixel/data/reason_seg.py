"""ReasonSeg (key `reason_seg`), with LISA's explanatory answers in training.

Files (relative to the data root):
    lisa/reason_seg/ReasonSeg/{train,val,test}/*.jpg     images
    lisa/reason_seg/ReasonSeg/{split}/<same name>.json   {text: [queries], is_sentence: bool, shapes: [...]}
    lisa/reason_seg/ReasonSeg/explanatory/train.json     [{query, outputs, image, json}, ...]

Real shapes are LabelMe-like polygons labelled `target`, `ignore` or `flag` (a 2-point marker, dropped); the JSON has
no image size, so the size comes from the JPG (which is why the index lists the `*.jpg` files).

One sample per (image, query text); in training each explanatory row adds a sample whose answer carries the
explanation after the mask token. Sample type is `sentence` when `is_sentence` else `query`. Training masks treat
"ignore" as background; evaluation keeps it: `meta["gt_masks"]` `(1, 1, H, W)` bool (target),
`meta["ignore_masks"]` `(1, 1, H, W)` bool, and `meta["label_map"]` `(1, H, W)` int8 with 1 / 0 / -1.
"""

from __future__ import annotations

import logging

import numpy as np

from .base import BaseDataset
from .errors import DataError
from .io import load_json
from .masks import decode_polygons
from .processor import Sample
from .templates import seg_answer, seg_question

logger = logging.getLogger(__name__)


class ReasonSegDataset(BaseDataset):
    """Reasoning segmentation on still images (data type `seg_image`).

    Args:
        data_dir: the `ReasonSeg` folder holding the split folders.
        explanatory: explanatory rows file (relative to `data_dir`), used in training; None to leave them out.
        **kwargs: `BaseDataset` arguments.
    """

    key = "reason_seg"
    data_type = "seg_image"

    def __init__(
        self,
        data_dir: str = "lisa/reason_seg/ReasonSeg",
        explanatory: str | None = "explanatory/train.json",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_dir = self.path(data_dir)
        self.explanatory = self.data_dir / explanatory if explanatory else None

    def load_index(self) -> list[dict]:
        split_dir = self.data_dir / self.split
        if not split_dir.is_dir():
            raise DataError(self.name, "-", split_dir, "split folder not found")
        records = []
        for image in sorted(split_dir.glob("*.jpg")):
            meta_file = image.with_suffix(".json")
            meta = load_json(meta_file, self.name, image.stem)
            texts = meta.get("text") if isinstance(meta, dict) else None
            if isinstance(texts, str):
                texts = [texts]
            if not texts:
                raise DataError(self.name, image.stem, meta_file, "no `text` queries")
            kind = "sentence" if meta.get("is_sentence") else "query"
            for qid, text in enumerate(texts):
                records.append(
                    {"id": f"{image.stem}_{qid}", "file": meta_file, "image": image, "kind": kind, "query": text}
                )
        if self.training and self.explanatory is not None:
            rows = load_json(self.explanatory, self.name)
            missing = 0
            for i, row in enumerate(rows):
                if not isinstance(row, dict) or not {"query", "outputs", "image"} <= row.keys():
                    raise DataError(self.name, f"explanatory row {i}", self.explanatory, "malformed explanatory row")
                image = split_dir / row["image"]
                meta_file = split_dir / row.get("json", image.with_suffix(".json").name)
                if not meta_file.is_file():
                    missing += 1
                    continue
                records.append(
                    {
                        "id": f"{image.stem}_exp",
                        "file": meta_file,
                        "image": image,
                        "kind": "explanatory",
                        "query": row["query"],
                        "answer": row["outputs"],
                    }
                )
            if missing:
                logger.warning(
                    "%s: %d explanatory rows name images missing from %s; left out (file: %s)",
                    self.name,
                    missing,
                    split_dir,
                    self.explanatory,
                )
                self.stats["explanatory_missing"] += missing
        return records

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid = record["id"]
        frames = self.read_image(record["image"], rid)
        height, width = frames.shape[1:3]
        meta_json = load_json(record["file"], self.name, rid)
        shapes = meta_json.get("shapes")
        if not isinstance(shapes, list):
            raise DataError(self.name, rid, record["file"], "no `shapes` list")
        try:
            labels = decode_polygons(shapes, height, width)
        except ValueError as exc:
            raise DataError(self.name, rid, record["file"], str(exc)) from exc
        target = (labels == 1)[None, None]  # (1, 1, H, W)
        trng = rng if self.training else None
        kind = record["kind"]
        question = seg_question(kind, record["query"], False, trng)
        answer = seg_answer(kind, trng, record.get("answer"))
        conv = self.turns_to_conversation([(question, answer)])
        meta = {"path": str(record["file"]), "image": str(record["image"]), "query": record["query"], "kind": kind}
        if self.training:
            return Sample(rid, self.name, frames, conv, seg_masks=target, data_type=self.data_type, meta=meta)
        meta.update(gt_masks=target, ignore_masks=(labels == -1)[None, None], label_map=labels[None])
        return Sample(rid, self.name, frames, conv, data_type=self.data_type, meta=meta)
