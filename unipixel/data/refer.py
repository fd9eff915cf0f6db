"""RefCOCO / RefCOCO+ / RefCOCOg (umd) / RefClef in the LISA layout (keys `refcoco`, `refcoco+`, `refcocog`, `refclef`).

Files (relative to the data root):
    lisa/refer_seg/{dataset}/refs({split_by}).p    refer-API pickle (Python 2): a list of refs
        {ref_id, ann_id, image_id, category_id, split, sentences[{sent_id, sent, raw, tokens}], file_name, ...}
    lisa/refer_seg/{dataset}/instances.json        COCO `images` / `annotations` (polygon lists or RLE, bbox xywh)
    lisa/refer_seg/images/mscoco/images/train2014/ (RefCOCO family) or lisa/refer_seg/images/saiapr_tc-12/ (RefClef)

A ref's own `file_name` (`COCO_train2014_000000581857_16.jpg`) is not an image file; the image comes from
`instances.json` `images[].file_name` through `image_id`. The pickle is read with the restricted unpickler.

Training: one sample per image; up to `max_conv_turns` (sentence, object) pairs drawn without replacement become the
turns, each answered with one `<|seg|>`. Evaluation (splits val / testA / testB / test): one sample per sentence,
user turn only, the GT in `meta["gt_masks"]` `(1, 1, H, W)` and the GT box in `meta["gt_boxes"]` (x1, y1, x2, y2).
"""

from __future__ import annotations

import pickle
from collections import defaultdict

import numpy as np

from .base import BaseDataset
from .errors import DataError, data_errors
from .io import load_json
from .masks import decode_regions
from .processor import Sample
from .safe_pickle import safe_load
from .templates import check_answer_style, seg_question, styled_seg_answer


class ReferSegDataset(BaseDataset):
    """Referring expression segmentation on still images (data type `seg_image`).

    Args:
        dataset: `refcoco`, `refcoco+`, `refcocog` or `refclef` (folder name and default dataset key).
        split_by: `unc` (RefCOCO, RefCOCO+, RefClef) or `umd` (RefCOCOg).
        anno_dir: folder holding `{dataset}/refs(...).p` and `{dataset}/instances.json`.
        image_dir: image folder joined with `instances.json` `file_name`.
        answer_style: `template` (the release's answer pool, "Sure, it is <|seg|>.") or `echo` (training answers
            repeat the expression, the token glued to its last word: "The small red circle<|seg|>."; the state the mask
            decoder reads is then the expression's last word, see `templates.echo_answer`) or `describe` (text only,
            no mask: "The target is small red circle.", which teaches a language model trained from scratch to
            anticipate the referent after "The target is").
        echo_colour_last: colour words that an `echo` answer moves to its end ("The small circle in red<|seg|>.",
            `templates.echo_answer`).
        **kwargs: `BaseDataset` arguments (root, split, processor, max_conv_turns, ...).
    """

    key = "refcoco"
    data_type = "seg_image"

    def __init__(
        self,
        dataset: str = "refcoco",
        split_by: str = "unc",
        anno_dir: str = "lisa/refer_seg",
        image_dir: str = "lisa/refer_seg/images/mscoco/images/train2014",
        answer_style: str = "template",
        echo_colour_last: tuple[str, ...] | list[str] = (),
        **kwargs,
    ):
        self.answer_style = check_answer_style(answer_style)
        self.echo_colour_last = tuple(echo_colour_last)
        kwargs.setdefault("name", dataset)
        super().__init__(**kwargs)
        self.dataset, self.split_by = dataset, split_by
        self.refs_file = self.path(anno_dir, dataset, f"refs({split_by}).p")
        self.instances_file = self.path(anno_dir, dataset, "instances.json")
        self.image_dir = self.path(image_dir)
        self._anns: dict[int, dict] = {}

    def load_index(self) -> list[dict]:
        try:
            refs = safe_load(self.refs_file)
        except FileNotFoundError:
            raise DataError(self.name, "-", self.refs_file, "refs pickle not found") from None
        except pickle.UnpicklingError as exc:
            raise DataError(self.name, "-", self.refs_file, f"cannot unpickle refs: {exc}") from exc
        if not isinstance(refs, list):
            raise DataError(self.name, "-", self.refs_file, f"expected a list of refs, got {type(refs).__name__}")
        instances = load_json(self.instances_file, self.name)
        if not isinstance(instances, dict):
            raise DataError(self.name, "-", self.instances_file, "expected {images: [...], annotations: [...]}")
        images, anns = {}, {}
        for key, table in (("images", images), ("annotations", anns)):
            rows = instances.get(key, [])
            if not isinstance(rows, list):
                raise DataError(self.name, "-", self.instances_file, f"`{key}` must be a list")
            for i, row in enumerate(rows):
                if not isinstance(row, dict) or "id" not in row:
                    raise DataError(self.name, f"{key}[{i}]", self.instances_file, f"{key} row {i} has no `id`")
                table[row["id"]] = row
        kept = []
        for i, ref in enumerate(refs):
            with data_errors(self.name, f"ref {i}", self.refs_file):
                if not isinstance(ref, dict):
                    raise ValueError(f"ref {i} is a {type(ref).__name__}, not a dict")
                if ref.get("split") != self.split:
                    continue
                missing = [k for k in ("ref_id", "ann_id", "image_id") if k not in ref]
                sentences = ref.get("sentences", [])
                if missing:
                    raise ValueError(f"ref {i} lacks {missing}")
                if not isinstance(sentences, list) or not all(
                    isinstance(s, dict) and isinstance(s.get("sent"), str) and "sent_id" in s for s in sentences
                ):
                    raise ValueError(f"ref {ref['ref_id']}: `sentences` must be a list of {{sent_id, sent: str}}")
                kept.append(ref)
        refs = kept
        self._anns = {r["ann_id"]: anns[r["ann_id"]] for r in refs if r["ann_id"] in anns}

        def record(rid, image_id, items):
            rec = {"id": rid, "file": None, "image_id": image_id, "items": items}
            img = images.get(image_id)
            if img is None:
                return rec
            try:
                rec["file"] = self.inside(self.image_dir, img.get("file_name"), rid, self.instances_file, "image")
            except DataError as err:
                rec.update(file=self.instances_file, error=err.msg)
            return rec

        if self.training:  # one sample per image, all its sentences
            by_image = defaultdict(list)
            for ref in refs:
                for sent in ref["sentences"]:
                    by_image[ref["image_id"]].append((ref["ref_id"], ref["ann_id"], sent["sent_id"], sent["sent"]))
            return [record(str(image_id), image_id, items) for image_id, items in by_image.items()]
        return [
            record(
                f"{ref['ref_id']}_{sent['sent_id']}",
                ref["image_id"],
                [(ref["ref_id"], ref["ann_id"], sent["sent_id"], sent["sent"])],
            )
            for ref in refs
            for sent in ref["sentences"]
        ]

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid = record["id"]
        if record.get("error"):
            raise DataError(self.name, rid, self.instances_file, record["error"])
        if record["file"] is None:
            raise DataError(self.name, rid, self.instances_file, f"image {record['image_id']} not in instances.json")
        frames = self.read_image(record["file"], rid)
        height, width = frames.shape[1:3]
        items = record["items"]
        if self.training:
            pick = rng.choice(len(items), size=min(self.max_conv_turns, len(items)), replace=False)
            items = [items[i] for i in pick]
        trng = rng if self.training else None
        masks, boxes, turns = [], [], []
        for ref_id, ann_id, _, sent in items:
            ann = self._anns.get(ann_id)
            if ann is None:
                msg = f"ref {ref_id}: annotation {ann_id} is not in instances.json (the object has no mask)"
                raise DataError(self.name, rid, self.instances_file, msg)
            masks.append(self.annotation_mask(rid, ref_id, ann_id, ann, height, width))
            x, y, w, h = ann.get("bbox", (0, 0, 0, 0))
            boxes.append((x, y, x + w, y + h))
            answer = styled_seg_answer(self.answer_style, "query", sent, trng, colour_last=self.echo_colour_last)
            turns.append((seg_question("query", sent, False, trng), answer))
        masks = np.stack(masks)[:, None]  # (O, 1, H, W)
        meta = {
            "path": str(record["file"]),
            "image_id": record["image_id"],
            "queries": [it[3] for it in items],
            "ref_ids": [it[0] for it in items],
            "sent_ids": [it[2] for it in items],
        }
        conv = self.turns_to_conversation(turns)
        if self.training:
            seg = None if self.answer_style == "describe" else masks  # describe: text answers, no <|seg|>
            return Sample(rid, self.name, frames, conv, seg_masks=seg, data_type=self.data_type, meta=meta)
        meta.update(gt_masks=masks, gt_boxes=np.asarray(boxes, dtype=np.float32))
        return Sample(rid, self.name, frames, conv, data_type=self.data_type, meta=meta)

    def annotation_mask(self, rid, ref_id, ann_id, ann: dict, height: int, width: int) -> np.ndarray:
        """`(H, W)` bool of one `instances.json` annotation; any fault is a `DataError` naming the annotation id and
        `instances.json` (a missing or malformed segmentation, a bad RLE, a mask stored at another size, an empty
        mask)."""

        def fail(msg):
            return DataError(self.name, rid, self.instances_file, f"annotation {ann_id} (ref {ref_id}): {msg}")

        if not isinstance(ann, dict) or ann.get("segmentation") is None:
            raise fail("no `segmentation`")
        try:
            mask = decode_regions([ann["segmentation"]], height, width)
        except (ValueError, TypeError, KeyError) as exc:
            raise fail(str(exc)) from None
        if not mask.any():
            raise fail(f"the segmentation is empty at the image's {height} x {width}")
        return mask
