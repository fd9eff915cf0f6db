"""ViCaS referring segmentation (key `vicas`): one sample per object referral (`prompt`, sample kind `sentence`).

Files (relative to the data root):
    vicas/splits/v1.0/{train,val,test}.json        a JSON list of integer video ids (zero-padded to 6 digits)
    vicas/annotations/annotations_wo_masks_v1.0.json   UniPixel's preprocessing: {"000123": annotation, ...} with the
                                                   masks moved out to vicas/masks/{vid}/{referral index}.json (per
                                                   frame a list of RLEs, one per track of the referral; `vicas` type)
    vicas/annotations/v1.0/{id:06d}.json           the official per-video files (used when the merged file is absent);
                                                   their `segmentations[].mask_rles` are aligned with `track_ids`
    vicas/video_frames/{vid}/{segmentations[].filename}

An annotation is `{video_id, filename, object_referrals: [{prompt, track_ids}], segmentations: [{filename, is_gt,
track_ids, mask_rles?}], ...}`; the video id used for folders is `filename[:6]`. A referral's target is the union of
its tracks. Frames with `is_gt = False` carry SAM 2-propagated masks in the release; they are used as they are.
Evaluation samples follow `rvos.VideoSegDataset` (all frames, `meta["llm_frame_index"]`, `meta["gt_masks"]` when masks
are available).
"""

from __future__ import annotations

import numpy as np

from .errors import DataError
from .io import load_json
from .masks import decode_region_frames
from .rvos import VideoSegDataset, as_regions, has_pixels


class ViCaSDataset(VideoSegDataset):
    """ViCaS object referrals.

    Args:
        split_file: list of video ids per split (`{split}` replaced; `valid` reads `val`).
        annotations: the merged annotation file (without masks); when missing, `annotation_dir` is read per video.
        annotation_dir: official per-video annotation files.
        frame_dir, mask_dir: frames and per-referral mask files.
    """

    key = "vicas"

    def __init__(
        self,
        split_file: str = "vicas/splits/v1.0/{split}.json",
        annotations: str = "vicas/annotations/annotations_wo_masks_v1.0.json",
        annotation_dir: str = "vicas/annotations/v1.0",
        frame_dir: str = "vicas/video_frames",
        mask_dir: str = "vicas/masks",
        **kwargs,
    ):
        super().__init__(**kwargs)
        split = "val" if self.split == "valid" else self.split
        self.split_file = self.path(split_file.format(split=split))
        self.annotation_file = self.path(annotations)
        self.annotation_dir = self.path(annotation_dir)
        self.frame_dir, self.mask_dir = self.path(frame_dir), self.path(mask_dir)
        self._cache: tuple | None = None

    def load_index(self) -> list[dict]:
        ids = load_json(self.split_file, self.name)
        if not isinstance(ids, list):
            raise DataError(self.name, "-", self.split_file, "expected a JSON list of video ids")
        merged = load_json(self.annotation_file, self.name) if self.annotation_file.is_file() else None
        if merged is not None and not isinstance(merged, dict):
            raise DataError(self.name, "-", self.annotation_file, "expected {video id: annotation}")
        records = []
        for raw_id in ids:
            key = str(raw_id).zfill(6)
            if merged is not None:
                anno, file = merged.get(key), self.annotation_file
                if anno is None:
                    records.append(
                        {
                            "id": key,
                            "file": file,
                            "kind": "sentence",
                            "query": "",
                            "error": f"video {key} of the split list is not in the annotation file",
                        }
                    )
                    continue
            else:
                file = self.annotation_dir / f"{key}.json"
                anno = load_json(file, self.name, key)
            records += self._records(key, anno, file, embedded=merged is None)
        return self.typed(records)

    def _records(self, key: str, anno, file, embedded: bool) -> list[dict]:
        base = {"file": file, "kind": "sentence", "query": ""}
        ok = isinstance(anno, dict) and isinstance(anno.get("segmentations"), list)
        ok = ok and isinstance(anno.get("object_referrals"), list) and isinstance(anno.get("filename"), str)
        if not ok:
            return [
                {**base, "id": key, "error": "malformed annotation (needs filename, segmentations, object_referrals)"}
            ]
        vid = anno["filename"][:6]
        segs = anno["segmentations"]
        try:
            if not all(isinstance(s, dict) for s in segs):
                raise DataError(self.name, key, file, "`segmentations` must hold one object per frame")
            self.inside(self.frame_dir, vid, key, file, "video")
            frames = [self.frame_dir / vid / self.plain_name(s.get("filename"), key, file) for s in segs]
        except DataError as err:
            return [{**base, "id": key, "error": err.msg}]
        out = []
        for i, ref in enumerate(anno["object_referrals"]):
            rec = {**base, "id": f"{vid}_{i}", "vid": vid, "exp_id": str(i), "frames": frames, "referral": i}
            rec.update(frame_names=[str(s["filename"]).rsplit(".", 1)[0] for s in segs], video_key=key)
            rec["embedded"] = embedded
            if not isinstance(ref, dict) or not isinstance(ref.get("prompt"), str):
                out.append({**rec, "error": f"referral {i} has no `prompt`"})
                continue
            rec.update(query=ref["prompt"].strip(), track_ids=ref.get("track_ids", []))
            if embedded:
                rec["mask_file"] = file
            else:
                rec["mask_file"] = self.mask_dir / vid / f"{i}.json"
            out.append(rec)
        return out

    def _tracks(self, record: dict) -> list | None:
        """Per frame of the video, the referral's regions (list); None for an evaluation split without masks."""
        if self._cache is not None and self._cache[0] == record["id"]:
            return self._cache[1]
        n = len(record["frames"])
        if record["embedded"]:
            anno = load_json(record["mask_file"], self.name, record["id"])
            per_frame = []
            for s in anno["segmentations"]:
                tracks, rles = s.get("track_ids", []), s.get("mask_rles")
                if rles is None:
                    if not self.training:
                        return None  # evaluation split released without masks
                    raise DataError(self.name, record["id"], record["mask_file"], "segmentations carry no mask_rles")
                if len(tracks) != len(rles):
                    raise DataError(self.name, record["id"], record["mask_file"], "track_ids and mask_rles differ")
                lookup = dict(zip(tracks, rles))
                per_frame.append([lookup.get(t) for t in record["track_ids"]])
        else:
            per_frame = load_json(record["mask_file"], self.name, record["id"])
            if not isinstance(per_frame, list):
                raise DataError(self.name, record["id"], record["mask_file"], "expected a per-frame list of RLEs")
        if len(per_frame) != n:
            msg = f"mask file has {len(per_frame)} frames, the annotation lists {n}"
            raise DataError(self.name, record["id"], record["mask_file"], msg)
        self._cache = (record["id"], per_frame)
        return per_frame

    def check_target(self, record):
        if not has_pixels(self._tracks(record)):
            raise DataError(self.name, record["id"], record["mask_file"], "the referral has no mask on any frame")

    def target_masks(self, record, idx, height, width):
        if not record["embedded"] and not record["mask_file"].is_file() and not self.training:
            return None  # evaluation splits without released masks
        per_frame = self._tracks(record)
        if per_frame is None:
            return None
        try:
            return decode_region_frames([as_regions(per_frame[int(t)]) for t in np.asarray(idx)], height, width)
        except Exception as exc:  # noqa: BLE001
            raise DataError(self.name, record["id"], record["mask_file"], f"cannot decode mask: {exc}") from exc
