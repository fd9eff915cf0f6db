"""Osprey-724K region understanding on images (keys `osprey_conversation`, `osprey_pos_neg`,
`osprey_detail_description`), with `<|mem|>` memory tokens.

Files (relative to the data root):
    osprey/Osprey-724K/osprey_conversation.json                 images osprey/coco/train2014/{file_name}
    osprey/Osprey-724K/osprey_lvis_positive_negative.json       images osprey/coco/imgs/{file_name}
    osprey/Osprey-724K/osprey_detail_description.json           images osprey/coco/train2014/{file_name}
    each a list of {file_name, height, width, id, annotation: [{segmentation: polygon list | RLE, ...}],
    conversations: [{from: human|gpt, value}] (conversation, pos_neg) | description: ["<region1>: text", ...]}

Regions are written `<regionN>` (1-based into `annotation`) and become `[N]`; the memory prefix ("Here is an image with
the following highlighted regions:\\n[N]: <|mem|>\\n...", objects in order of first mention) opens the first user turn.
Known spelling slips are repaired (`<region 2>`, `<region3]`, `<region4.`, `<region of5>`, `<Region6>`, `<regin7>`);
rows that still hold a bare `<region>` or an unreadable tag, or refer past their annotation list, are dropped and
counted (`stats["skipped_malformed"]`). Detailed descriptions become turns "{detail prompt with [N]}" -> text, one per
region. A `file_name` with a subset prefix ("xxx_000000123.jpg") falls back to its last `_` part when missing.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from .base import BaseDataset
from .errors import DataError
from .masks import decode_region_frames, resize_mask
from .processor import Sample
from .region import memory_text
from .templates import REGION_DETAIL_PROMPTS, choose

logger = logging.getLogger(__name__)

_SLIP = re.compile(r"<\s*[Rr]egi?on\s*(?:of\s*)?(\d+)\s*[\]>.]?")
_TAG = re.compile(r"<region(\d+)>")
_DETAIL = re.compile(r"^<region(\d+)>\s*:\s*(.*)$", re.S)


def repair(text: str) -> str:
    return _SLIP.sub(r"<region\1>", text)


def rewrite(text: str, num_regions: int, order: list[int]) -> str:
    """`<regionN>` -> `[N]` (after repair), appending new ids to `order`; ValueError on unreadable tags."""
    text = repair(text).replace("<image>\n", "").replace("<image>", "").strip()
    for m in _TAG.finditer(text):
        n = int(m.group(1))
        if not 1 <= n <= num_regions:
            raise ValueError(f"<region{n}> refers past the {num_regions} annotated regions")
        if n not in order:
            order.append(n)
    text = _TAG.sub(lambda m: f"[{int(m.group(1))}]", text)
    if "<region" in text or "<regin" in text:
        raise ValueError("an unreadable region tag")
    return text


class OspreyDataset(BaseDataset):
    """Osprey conversations / positive-negative questions (multi-turn, `region_image`).

    Args:
        annotation: the row file.
        image_dir: folder joined with `file_name`.
        detail: the rows are `description` lists (detailed descriptions) rather than `conversations`.
    """

    key = "osprey_conversation"
    data_type = "region_image"

    def __init__(
        self,
        annotation: str = "osprey/Osprey-724K/osprey_conversation.json",
        image_dir: str = "osprey/coco/train2014",
        detail: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.annotation_file, self.image_dir, self.detail = self.path(annotation), self.path(image_dir), detail
        self._rows: list = []

    def load_index(self) -> list[dict]:
        rows = self.load_rows(self.annotation_file)
        self._rows = rows
        records, bad = [], 0
        for i, row in enumerate(rows):
            try:
                turns, order = self.parse(row)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                bad += 1
                logger.debug("%s: row %d dropped: %s", self.name, i, exc)
                continue
            rid = str(row.get("id", i))
            records.append({"id": rid, "row": i, "file": self.annotation_file, "turns": turns, "regions": order})
        if bad:
            logger.info(
                "%s: %d of %d rows dropped as malformed (file: %s)", self.name, bad, len(rows), self.annotation_file
            )
            self.stats["skipped_malformed"] += bad
        return records

    def parse(self, row: dict) -> tuple[list[tuple[str, str]], list[int]]:
        """`[(question, answer), ...]` with regions as `[N]`, and the region numbers in order of first mention."""
        if not isinstance(row.get("file_name"), str) or not isinstance(row.get("annotation"), list):
            raise ValueError("needs file_name and annotation")
        n, order = len(row["annotation"]), []
        if self.detail:
            turns = []
            for desc in row["description"]:
                m = _DETAIL.match(repair(str(desc)).strip())
                if m is None or len(_TAG.findall(m.group(0))) != 1:
                    raise ValueError("a description is not '<regionN>: text' with one region")
                rid = int(m.group(1))
                rewrite(f"<region{rid}>", n, order)
                if not m.group(2).strip():
                    raise ValueError("empty description")
                turns.append((f"[{rid}]", m.group(2).strip()))
            if not turns:
                raise ValueError("no description")
            return turns, order
        conv = row["conversations"]
        if not isinstance(conv, list) or not conv or len(conv) % 2:
            raise ValueError("conversations must alternate human / gpt turns")
        turns = []
        for k in range(0, len(conv), 2):
            if conv[k].get("from") != "human" or conv[k + 1].get("from") != "gpt":
                raise ValueError("conversations must alternate human / gpt turns")
            if "<region>" in conv[k]["value"] or "<region>" in conv[k + 1]["value"]:
                raise ValueError("a bare <region> tag")
            turns.append((rewrite(conv[k]["value"], n, order), rewrite(conv[k + 1]["value"], n, order)))
        if not order:
            raise ValueError("no region is mentioned")
        return turns, order

    def build(self, record: dict, rng: np.random.Generator) -> Sample:
        rid, row = record["id"], self._rows[record["row"]]
        path = self.inside(self.image_dir, row.get("file_name"), rid, self.annotation_file, "file_name")
        if not path.is_file() and "_" in row["file_name"]:
            path = self.inside(self.image_dir, row["file_name"].split("_")[-1], rid, self.annotation_file, "file_name")
        frames = self.read_image(path, rid)
        height, width = frames.shape[1:3]
        h, w = int(row.get("height") or height), int(row.get("width") or width)
        masks = []
        for n in record["regions"]:
            seg = row["annotation"][n - 1].get("segmentation") if isinstance(row["annotation"][n - 1], dict) else None
            if seg is None:
                msg = f"region {n} has no segmentation (object id without mask)"
                raise DataError(self.name, rid, self.annotation_file, msg)
            try:
                mask = decode_region_frames([seg], h, w)[0]  # a polygon list or an RLE dict
            except Exception as exc:  # noqa: BLE001
                raise DataError(self.name, rid, self.annotation_file, f"region {n}: cannot decode mask: {exc}") from exc
            masks.append(resize_mask(mask, height, width))
        masks = np.stack(masks)[:, None]  # (O, 1, H, W)
        try:
            prefix = memory_text(record["regions"], masks, video=False)
        except ValueError as exc:
            raise DataError(self.name, rid, self.annotation_file, str(exc)) from exc
        trng = rng if self.training else None
        conv = []
        for k, (question, answer) in enumerate(record["turns"]):
            if self.detail:
                question = choose(REGION_DETAIL_PROMPTS, trng).format(question)
            conv += [
                {"role": "user", "content": (prefix if k == 0 else "") + question},
                {"role": "assistant", "content": answer},
            ]
        meta = {"path": str(path), "row": record["row"], "object_ids": record["regions"]}
        return Sample(rid, self.name, frames, conv, refer_masks=masks, data_type=self.data_type, meta=meta)
