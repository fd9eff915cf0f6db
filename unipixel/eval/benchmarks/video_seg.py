"""Shared protocol and scoring of the video-segmentation benchmarks (ReVOS, MeViS, Ref-YouTube-VOS, Ref-DAVIS17,
Ref-SAV, GroundMoRe; docs/design.md §5.2-5.3). Each benchmark is a small subclass in its own module; run one with

    python -m unipixel.eval benchmark=mevis split=valid_u model.path=model_zoo/UniPixel-3B

Inference, one expression per sample (`unipixel.data.rvos` / `unipixel.data.groundmore` evaluation samples): the LLM
sees `llm_frames` (16) frames spread uniformly over the video (`meta["llm_frame_index"]`), SAM 2 propagates over every
frame of the sample (the whole video; GroundMoRe: its 20 evaluation frames); greedy decoding up to `max_new_tokens`
(512). Only the first `<|seg|>`'s mask track is kept. An answer without `<|seg|>` becomes an empty mask on every frame
and counts towards `no_seg_rate`. A record holds `vid`, `exp_id`, the answer text, `num_seg` (the number of
`<|seg|>` tokens) and `masks[0][t]`, the COCO RLE of frame t at the original frame size. Samples longer than the
predictor's `stream_above` frames (`stream_above` in `configs/eval.yaml`) are segmented by streaming
(`Predictor.stream_sample`): the same record, each frame's mask encoded as soon as SAM 2 has decoded it.

Scoring (CPU only, re-runnable) decodes no video frame except one per expression for its size: the ground truth comes
from the loader's annotation hooks and the prediction from its RLEs, `chunk_frames` frames at a time, so a long video
is never held whole in memory.

- Splits with masks: per expression J (region IoU, an empty union scores 1) and F (DAVIS boundary F) averaged over all
  frames of the video (`metrics.frame_counts`); dataset J and F are means over expressions, J&F = (J + F) / 2.
- Splits without masks (MeViS valid, Ref-YouTube-VOS valid): `submission.zip` in the prediction folder
  (`<out_dir>/<benchmark>/<split>/`) holding one PNG per frame at `{vid}/{exp_id}/{frame}.png` (the layout of
  docs/design.md §5.2; `zip_prefix` puts it under a folder), single channel, 0 / 255, original size;
  `submission.json` next to it records the layout, the counts and the zip's sha256. Scoring returns the counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path

import cv2
import numpy as np

from unipixel.data.errors import DataError, data_errors

from ..metrics import frame_counts, mean_j_and_f
from ..metrics.boundary import f_from_counts
from ..metrics.region import iou_from_counts
from ..runner import Evaluator, encode_masks, prediction_dir

logger = logging.getLogger(__name__)

SUBMISSION_ZIP = "submission.zip"
SUBMISSION_INFO = "submission.json"


class ClipAnnotation:
    """Ground truth of one evaluation sample, read through the loader's hooks a few frames at a time.

    It mirrors `VideoSegDataset.build` at evaluation (`target_masks` then `add_eval_meta`, e.g. GroundMoRe's action
    gating) without decoding the clip: only its first frame is read, for the frame size.

    Attributes:
        record: the loader's index record. positions: clip positions of the sample's frames (all of them).
        frame_names: file stems of those frames. height, width: frame size.
    """

    def __init__(self, dataset, position: int):
        self.dataset = dataset
        self.record = dataset.index[position]
        self.sample_id = self.record.get("id", position)
        if self.record.get("error"):
            raise DataError(dataset.name, self.sample_id, self.record.get("file"), self.record["error"])
        with self.errors():
            reader, total = dataset.open_clip(self.record)
            self.positions, _ = dataset.clip_indices(total, dataset.rng(position))
            first = dataset.decode_frames(self.record, reader, self.positions[:1])
        self.height, self.width = (int(s) for s in first.shape[1:3])
        names = self.record.get("frame_names")
        self.frame_names = None if names is None else [str(names[int(t)]) for t in self.positions]

    def __len__(self) -> int:
        return len(self.positions)

    def errors(self):
        """Context naming this sample and its annotation file in any error raised inside."""
        return data_errors(self.dataset.name, self.sample_id, self.record.get("file"))

    def target(self, start: int, stop: int) -> np.ndarray | None:
        """`(n, H, W)` bool ground truth on frames `start:stop`, or None when the split has no masks."""
        idx = self.positions[start:stop]
        with self.errors():
            masks = self.dataset.target_masks(self.record, idx, self.height, self.width)
            if masks is None:
                return None
            meta = {"gt_masks": masks[None]}
            self.dataset.add_eval_meta(self.record, idx, self.height, self.width, meta)
        return np.asarray(meta["gt_masks"][0], dtype=bool)

    def has_masks(self) -> bool:
        return self.target(0, 1) is not None


def decode_rle_frames(rles: list[dict]) -> np.ndarray:
    """Per-frame COCO RLEs (str counts, as `runner.encode_masks` writes them) → C-contiguous `(n, H, W)` bool."""
    from pycocotools import mask as mask_utils

    if not rles:
        raise ValueError("no frames to decode")
    coded = [{"size": r["size"], "counts": r["counts"].encode("ascii")} for r in rles]
    return np.ascontiguousarray(mask_utils.decode(coded).transpose(2, 0, 1), dtype=bool)


def png_bytes(mask: np.ndarray) -> bytes:
    """`(H, W)` bool → single-channel 8-bit PNG with 0 / 255."""
    ok, buf = cv2.imencode(".png", mask.astype(np.uint8) * np.uint8(255))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class VideoSegEvaluator(Evaluator):
    """One referring / reasoning video-segmentation benchmark (module docstring).

    Args:
        split: the benchmark split (see each subclass).
        root: the data folder (the layout of UniPixel-SFT-1M's `data/`).
        max_new_tokens: greedy decoding budget.
        llm_frames: frames shown to the LLM, uniform over the video.
        chunk_frames: frames decoded at once while scoring (memory only; results do not depend on it).
        num_threads: threads for the boundary measure while scoring.
        out_dir: the evaluation output folder (`out_dir` of `configs/eval.yaml`); the submission zip of a split without
            masks goes to its `<benchmark>/<split>/` folder.
        zip_prefix: folder inside the zip above `{vid}/`; empty: the layout of docs/design.md §5.2.
        dataset_options: extra arguments of the benchmark's data loader (`configs/data/datasets/<key>.yaml`).
    """

    benchmark = "video_seg"
    data_key = ""  # the loader's dataset key

    def __init__(
        self,
        split: str,
        root: str = "data",
        max_new_tokens: int = 512,
        llm_frames: int = 16,
        chunk_frames: int = 32,
        num_threads: int = 1,
        out_dir: str | None = None,
        zip_prefix: str = "",
        dataset_options: dict | None = None,
    ):
        self.max_new_tokens, self.llm_frames = int(max_new_tokens), int(llm_frames)
        self.dataset_options = dict(dataset_options or {})
        super().__init__(
            split,
            root,
            data_key=self.data_key,
            max_new_tokens=self.max_new_tokens,
            llm_frames=self.llm_frames,
            masks_kept="first <|seg|>; none -> empty",
            **self.dataset_options,
        )
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        self.chunk_frames, self.num_threads = int(chunk_frames), int(num_threads)
        self.out_dir = out_dir
        self.zip_prefix = zip_prefix.strip("/")

    def build_dataset(self):
        from unipixel.data.mixture import build_dataset

        return build_dataset(
            self.data_key, root=self.root, split=self.split, llm_frames=self.llm_frames, **self.dataset_options
        )

    # ------------------------------------------------------------------------------------------------ inference
    def predict(self, predictor, sample) -> dict:
        shape = tuple(sample.frames.shape[:3])
        streams = getattr(predictor, "streams", None)
        if streams is not None and streams(shape[0]):
            return self.predict_streaming(predictor, sample)
        result = predictor.predict_sample(sample, max_new_tokens=self.max_new_tokens)
        first = result.masks.get(0)
        if first is None:
            mask = np.zeros(shape, dtype=bool)
        else:
            mask = first.numpy().astype(bool, copy=False)
            if mask.shape != shape:
                raise RuntimeError(f"{self.result_prefix} sample {sample.id}: mask {mask.shape}, frames {shape}")
        return {
            "vid": sample.meta.get("vid"),
            "exp_id": sample.meta.get("exp_id"),
            "text": result.text,
            "num_seg": len(result.masks),
            "masks": encode_masks(mask[None]),
        }

    def predict_streaming(self, predictor, sample) -> dict:
        """`predict` for long videos (`Predictor.streams`): SAM 2 reads the clip chunk by chunk and each frame's mask
        is RLE-encoded as soon as it is decoded, so no mask track is held whole. The record is `predict`'s, exactly."""
        stream = predictor.stream_sample(sample, max_new_tokens=self.max_new_tokens)
        height, width = (int(v) for v in sample.frames.shape[1:3])
        empty = np.zeros((1, 1, height, width), dtype=bool)
        rles = []
        for item in stream:
            mask = item.masks[:1, None].numpy() if stream.num_objects else empty
            rles.append(encode_masks(mask)[0][0])
        if len(rles) != len(sample.frames):
            raise RuntimeError(
                f"{self.result_prefix} sample {sample.id}: {len(rles)} masks, {len(sample.frames)} frames"
            )
        return {
            "vid": sample.meta.get("vid"),
            "exp_id": sample.meta.get("exp_id"),
            "text": stream.text,
            "num_seg": stream.num_objects,
            "masks": [rles],
        }

    # ------------------------------------------------------------------------------------------------ scoring
    def score(self, records: dict[str, dict]) -> dict[str, float]:
        if not records:
            raise ValueError(f"{self.result_prefix}: no predictions to score")
        first = ClipAnnotation(self.dataset, int(next(iter(records))))
        if not first.has_masks():
            return self.write_submission(records)
        rows = [self.score_expression(key, record) for key, record in records.items()]
        return self.summarise(rows, records)

    def prediction_frames(self, key: str, record: dict, clip: ClipAnnotation) -> list[dict]:
        """The record's per-frame RLEs, checked against the sample's frame count and size."""
        rles = record["masks"][0] if record.get("masks") else None
        where = f"{self.result_prefix} prediction {key} (sample {clip.sample_id})"
        if not isinstance(rles, list) or len(rles) != len(clip):
            got = len(rles) if isinstance(rles, list) else type(rles).__name__
            raise ValueError(f"{where}: {got} mask frames for a sample of {len(clip)} frames")
        size = [clip.height, clip.width]
        bad = next((t for t, r in enumerate(rles) if list(r["size"]) != size), None)
        if bad is not None:
            raise ValueError(f"{where}: frame {bad} mask has size {rles[bad]['size']}, the frames are {size}")
        return rles

    def chunks(self, key: str, record: dict, clip: ClipAnnotation):
        """`(prediction, ground truth)` `(n, H, W)` bool pairs over consecutive frames of the sample."""
        rles = self.prediction_frames(key, record, clip)
        for start in range(0, len(clip), self.chunk_frames):
            stop = min(start + self.chunk_frames, len(clip))
            gt = clip.target(start, stop)
            if gt is None:
                raise ValueError(
                    f"{self.result_prefix}: sample {clip.sample_id} has no masks, unlike the split's first"
                )
            yield decode_rle_frames(rles[start:stop]), gt

    def score_expression(self, key: str, record: dict) -> dict:
        """J, F (and J&F) of one prediction, plus what `summarise` groups by."""
        clip = ClipAnnotation(self.dataset, int(key))
        counts = np.concatenate(
            [frame_counts(p, g, num_threads=self.num_threads) for p, g in self.chunks(key, record, clip)]
        )
        j = float(np.mean(iou_from_counts(counts[:, 0], counts[:, 1])))
        f = float(np.mean(f_from_counts(counts[:, 2], counts[:, 3], counts[:, 4], counts[:, 5])))
        return {"J": j, "F": f, "J&F": (j + f) / 2, "vid": clip.record.get("vid"), "record": clip.record}

    def summarise(self, rows: list[dict], records: dict[str, dict]) -> dict[str, float]:
        metrics = mean_j_and_f(rows)
        metrics.update(self.counts(records, [r["vid"] for r in rows]))
        return metrics

    @staticmethod
    def counts(records: dict[str, dict], vids: list) -> dict[str, float]:
        return {
            "num_expressions": len(records),
            "num_videos": len(set(vids)),
            "no_seg_rate": sum(r["num_seg"] == 0 for r in records.values()) / len(records),
        }

    # ------------------------------------------------------------------------------------------------ submission
    def submission_folder(self) -> Path:
        if self.out_dir is None:
            raise ValueError(
                f"{self.result_prefix} has no masks to score locally, so scoring writes a submission zip; "
                "give the evaluator out_dir (configs/benchmark sets it to the run's out_dir)"
            )
        return prediction_dir(self.out_dir, self)

    def write_submission(self, records: dict[str, dict]) -> dict[str, float]:
        """Write `submission.zip` (+ `submission.json`) for a split scored by the benchmark's server."""
        folder = self.submission_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path, tmp = folder / SUBMISSION_ZIP, folder / (SUBMISSION_ZIP + ".tmp")
        prefix = f"{self.zip_prefix}/" if self.zip_prefix else ""
        entries, vids, seen = 0, set(), {}
        order = sorted(records, key=lambda k: (str(records[k].get("vid")), str(records[k].get("exp_id")), k))
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for key in order:
                clip = ClipAnnotation(self.dataset, int(key))
                vid, exp_id = str(clip.record["vid"]), str(clip.record["exp_id"])
                if clip.frame_names is None:
                    raise ValueError(f"{self.result_prefix}: sample {clip.sample_id} has no frame names")
                if (vid, exp_id) in seen:
                    raise ValueError(
                        f"{self.result_prefix}: samples {seen[vid, exp_id]} and {key} are both {vid}/{exp_id}"
                    )
                seen[vid, exp_id] = key
                rles = self.prediction_frames(key, records[key], clip)
                for start in range(0, len(clip), self.chunk_frames):
                    masks = decode_rle_frames(rles[start : start + self.chunk_frames])
                    for name, mask in zip(clip.frame_names[start : start + len(masks)], masks):
                        info = zipfile.ZipInfo(f"{prefix}{vid}/{exp_id}/{name}.png", date_time=(1980, 1, 1, 0, 0, 0))
                        archive.writestr(info, png_bytes(mask))
                        entries += 1
                vids.add(vid)
        tmp.replace(path)
        complete = len(records) == len(self.dataset)
        counts = {**self.counts(records, list(vids)), "num_frames": entries}
        manifest = {
            "benchmark": self.benchmark,
            "split": self.split,
            "zip": str(path),
            "layout": f"{prefix}{{vid}}/{{exp_id}}/{{frame}}.png (single channel, 0/255, original size)",
            "sha256": file_sha256(path),
            "complete": complete,
            "num_expressions_in_split": len(self.dataset),
            **counts,
        }
        (folder / SUBMISSION_INFO).write_text(json.dumps(manifest, indent=2))
        logger.info(
            "%s: submission written to %s (%d expressions of %d, %d PNGs); upload it to the benchmark's server",
            self.result_prefix,
            path,
            len(records),
            len(self.dataset),
            entries,
        )
        if not complete:
            logger.warning(
                "%s: the submission covers only %d of %d expressions",
                self.result_prefix,
                len(records),
                len(self.dataset),
            )
        return counts
