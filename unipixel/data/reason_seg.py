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
        # every image and every annotation JSON counts: a JSON without its image (or the reverse) is a broken
        # sample that names the missing file, never a silently shorter split
        stems = sorted({p.stem for p in split_dir.glob("*.jpg")} | {p.stem for p in split_dir.glob("*.json")})
        records = []
        for stem in stems:
            image, meta_file = split_dir / f"{stem}.jpg", split_dir / f"{stem}.json"
            base = {"file": meta_file, "image": image, "kind": "query", "query": ""}
            if not meta_file.is_file():
                records.append({**base, "id": f"{stem}_0", "error": "annotation JSON not found (the image has none)"})
                continue
            try:
                meta = load_json(meta_file, self.name, stem)
                texts = meta.get("text") if isinstance(meta, dict) else None
                if isinstance(texts, str):
                    texts = [texts]
                if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                    raise DataError(
                        self.name, stem, meta_file, f"`text` must be a list of query strings, got {texts!r}"[:200]
                    )
            except DataError as err:
                records.append({**base, "id": f"{stem}_0", "error": err.msg})
                continue
            kind = "sentence" if meta.get("is_sentence") else "query"
            for qid, text in enumerate(texts):
                records.append({**base, "id": f"{stem}_{qid}", "kind": kind, "query": text})
        if self.training and self.explanatory is not None:
            records += self._explanatory(split_dir)
        return records

    def _explanatory(self, split_dir) -> list[dict]:
        rows = self.load_rows(self.explanatory)
        records, missing = [], 0
        for i, row in enumerate(rows):
            rid = f"explanatory row {i}"
            if not isinstance(row, dict) or not {"query", "outputs", "image"} <= row.keys():
                raise DataError(self.name, rid, self.explanatory, "malformed explanatory row")
            if not isinstance(row["query"], str) or not isinstance(row["outputs"], str):
                raise DataError(self.name, rid, self.explanatory, "`query` and `outputs` must be strings")
            try:
                image = self.inside(split_dir, row["image"], rid, self.explanatory, "image")
                default = image.with_suffix(".json").name
                meta_file = self.inside(split_dir, row.get("json", default), rid, self.explanatory, "json")
            except DataError as err:
                records.append({"id": f"{rid}_exp", "file": self.explanatory, "kind": "explanatory", "query": ""})
                records[-1].update(image=None, error=err.msg)
                continue
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
        if record.get("error"):
            raise DataError(self.name, rid, record["file"], record["error"])
        frames = self.read_image(record["image"], rid)
        height, width = frames.shape[1:3]
        meta_json = load_json(record["file"], self.name, rid)
        shapes = meta_json.get("shapes") if isinstance(meta_json, dict) else None
        if not isinstance(shapes, list):
            raise DataError(self.name, rid, record["file"], "no `shapes` list")
        try:
            labels = decode_polygons(shapes, height, width)
        except (ValueError, TypeError, AttributeError) as exc:
            raise DataError(self.name, rid, record["file"], f"cannot read `shapes`: {exc}") from exc
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
