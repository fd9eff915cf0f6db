"""Turn a sample (frames, conversation, prompts, masks) into model inputs, for training and inference alike.

- Chat formatting follows Qwen2.5-VL's ChatML template with its default system prompt; the visual placeholder sits
  in the first user turn. The conversation is tokenised once with a single placeholder per visual, which is then
  expanded to the visual's token count at id level (no re-tokenising of strings holding thousands of pad tokens, P5).
- Labels supervise only assistant answers and their closing `<|im_end|>`, found from character offsets of the same
  tokenisation (exact, whatever the BPE merges at turn boundaries).
- Frames go through Qwen's processor (after `smart_resize` to the per-frame pixel budget) for the LLM and through the
  SAM 2 transform (resize to S x S, ImageNet mean/std) for the mask decoder; each frame array is decoded once and used
  by both paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..utils.masks import masks_to_token_grid

SYSTEM_PROMPT = "You are a helpful assistant."
IGNORE_INDEX = -100
TOKENS_PER_GROUP = 28 * 28
SAM2_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
SAM2_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def pixel_budget(num_frames: int, target_frames: int, min_tokens: int = 128, max_tokens: int = 256) -> tuple[int, int]:
    """Per-frame (min_pixels, max_pixels): `max = max_tokens * 28^2 * k`, `k = max(1, min(target // n, target))`.

    So a clip of `target` frames gets `max_tokens` merged tokens per frame and a still image up to `target` times more.
    """
    k = max(1, min(target_frames // max(num_frames, 1), target_frames))
    return min_tokens * TOKENS_PER_GROUP, max_tokens * TOKENS_PER_GROUP * k


def smart_size(height: int, width: int, min_pixels: int, max_pixels: int, factor: int = 28) -> tuple[int, int]:
    """Qwen2.5-VL's `smart_resize`: multiples of `factor`, area within bounds, aspect ratio kept approximately."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    return smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)


LLM_RESIZES = ("pil", "torch")


def resize_frames(frames: torch.Tensor, size: tuple[int, int], method: str = "pil") -> torch.Tensor:
    """`(T, H, W, 3)` uint8 → `(T, 3, h, w)` uint8 for the LLM path, bicubic (D3 in docs/fidelity.md).

    `method="pil"`: PIL's `Image.resize` (bicubic, 8-bit), what the released code applies to images and frame lists,
    i.e. every segmentation, referring and region sample. `"torch"`: float bicubic with antialiasing, rounded to 8
    bits, what it applies to frames decoded from a video file (Qwen's own video reader; general video QA, MVBench).
    """
    if method not in LLM_RESIZES:
        raise ValueError(f"unknown LLM frame resize {method!r}; expected one of {LLM_RESIZES}")
    height, width = (int(v) for v in size)
    if tuple(frames.shape[1:3]) == (height, width):
        return frames.permute(0, 3, 1, 2).contiguous()
    if method == "pil":
        array = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        resized = [
            np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.BICUBIC)) for frame in array
        ]
        return torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).contiguous()
    x = frames.permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8)


def sam2_transform(frames: torch.Tensor, image_size: int) -> torch.Tensor:
    """`(T, H, W, 3)` uint8 → `(T, 3, S, S)` float: /255, resize to S x S (aspect not kept, antialiased), normalise."""
    x = frames.permute(0, 3, 1, 2).float() / 255.0
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    return (x - SAM2_MEAN) / SAM2_STD


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bool masks `(..., H, W)` → `(..., h, w)` by nearest-pixel sampling (thin parts are not dilated, unlike B8)."""
    lead = masks.shape[:-2]
    x = masks.reshape(-1, 1, *masks.shape[-2:]).float()
    x = F.interpolate(x, size=size, mode="nearest-exact")
    return x.reshape(*lead, *size) > 0.5


@dataclass
class Sample:
    """One training / evaluation sample, as every dataset loader produces it.

    Attributes:
        id: unique id within its dataset. dataset: dataset key (for error messages and logging).
        frames: `(T, H, W, 3)` uint8 frames, decoded once; a still image is `T = 1`.
        conversation: `[{"role": "user" | "assistant", "content": str}, ...]`; the visual goes before the first user
            turn's text. An assistant turn with `"train": False` is kept in the text but not supervised.
        as_video: feed the LLM a video (frame list, 2 frames per temporal group) rather than an image.
        ref_prompts: `(P, 6)` `[kind, x1, y1, x2, y2, frame]` in frame pixels (kind 0 point, 1 box), one per `<|ref|>`.
        refer_masks: `(O, T, H, W)` bool object masks for `<|mem|>` (one `<|mem|>` per object and temporal group
            where the object is present), or None.
        seg_masks: `(O, T, H, W)` bool ground truth, one object per `<|seg|>`, or None.
        data_type: sampler group (`seg_image`, `seg_video`, `ref_point`, ..., `multimodal`, `text`).
        meta: free-form extras (paths, question type, ...). `meta["llm_frame_index"]`, when present, selects the
            frames shown to the LLM (evaluation: 16 uniform frames) while SAM 2 and `seg_masks` use all `frames`;
            `ref_prompts` frame indices and `refer_masks` then refer to those LLM frames.
            Frames decoded from a video file the way Qwen's own video reader does (general video QA, MVBench,
            Video-MME) carry `meta["llm_resize"] = "torch"` (D3) and `meta["sample_fps"]`, the rate at which the LLM
            frames were sampled (frames taken / video duration); the video's temporal position step follows from it
            (`second_per_grid_ts = temporal_patch_size / sample_fps`, D4). Frame lists and images (every segmentation,
            referring and region sample) are resized with PIL and count as 2 fps, one second per temporal group.
    """

    id: str
    dataset: str
    frames: np.ndarray | torch.Tensor | None
    conversation: list[dict]
    as_video: bool = True
    ref_prompts: np.ndarray | torch.Tensor | None = None
    refer_masks: np.ndarray | torch.Tensor | None = None
    seg_masks: np.ndarray | torch.Tensor | None = None
    data_type: str = "multimodal"
    meta: dict = field(default_factory=dict)


class PixelProcessor:
    """Builds model inputs from `Sample`s with a tokenizer and Qwen's image/video processors.

    Args:
        tokenizer: a Qwen2.5 tokenizer (real, from a path) or the tiny test tokenizer; must know `<|ref|>`,
            `<|seg|>`, `<|mem|>`.
        sam2_image_size: S of the SAM 2 path.
        target_frames: F_target of the per-frame pixel budget (8 in training, 16 at evaluation).
        min_tokens, max_tokens: merged tokens per frame bounds (128 / 256 by default).
        image_max_tokens: pixel budget of the general-VQA image path (2048 tokens in training).
        system_prompt: ChatML system prompt (Qwen2.5-VL's default).
    """

    def __init__(
        self,
        tokenizer,
        sam2_image_size: int = 768,
        target_frames: int = 8,
        min_tokens: int = 128,
        max_tokens: int = 256,
        image_min_tokens: int = 4,
        image_max_tokens: int = 2048,
        system_prompt: str = SYSTEM_PROMPT,
        patch_size: int = 14,
        merge_size: int = 2,
        temporal_patch_size: int = 2,
    ):
        from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        self.tokenizer = tokenizer
        self.sam2_image_size = sam2_image_size
        self.target_frames = target_frames
        self.min_tokens, self.max_tokens = min_tokens, max_tokens
        self.image_min_tokens, self.image_max_tokens = image_min_tokens, image_max_tokens
        self.system_prompt = system_prompt
        self.patch_size, self.merge_size, self.temporal_patch_size = patch_size, merge_size, temporal_patch_size
        common = dict(
            do_resize=False, patch_size=patch_size, merge_size=merge_size, temporal_patch_size=temporal_patch_size
        )
        self.image_processor = Qwen2VLImageProcessor(**common)
        self.video_processor = Qwen2VLVideoProcessor(**common, do_sample_frames=False, cap_pixels_per_frame=False)
        ids = {
            t: tokenizer.convert_tokens_to_ids(t)
            for t in (
                "<|image_pad|>",
                "<|video_pad|>",
                "<|vision_start|>",
                "<|vision_end|>",
                "<|im_end|>",
                "<|ref|>",
                "<|seg|>",
                "<|mem|>",
            )
        }
        missing = [t for t, i in ids.items() if i is None or i == tokenizer.unk_token_id]
        if missing:
            raise ValueError(f"tokenizer lacks the special tokens {missing}; add them before building the processor")
        self.image_token_id, self.video_token_id = ids["<|image_pad|>"], ids["<|video_pad|>"]
        self.ref_token_id, self.seg_token_id, self.mem_token_id = ids["<|ref|>"], ids["<|seg|>"], ids["<|mem|>"]
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ids["<|im_end|>"]

    # ------------------------------------------------------------------ text
    def chat_text(self, conversation: list[dict], visual_token: str | None, add_generation_prompt: bool = False):
        """ChatML string with one visual placeholder, plus the character spans of supervised answer text."""
        parts = [f"<|im_start|>system\n{self.system_prompt}<|im_end|>\n"]
        spans = []
        visual_done = visual_token is None
        for turn in conversation:
            role, content = turn["role"], turn["content"]
            if role not in ("user", "assistant"):
                raise ValueError(f"unknown role {role!r} in conversation")
            prefix = f"<|im_start|>{role}\n"
            if role == "user" and not visual_done:
                prefix += f"<|vision_start|>{visual_token}<|vision_end|>"
                visual_done = True
            text_so_far = "".join(parts) + prefix
            if role == "assistant" and turn.get("train", True):
                spans.append((len(text_so_far), len(text_so_far) + len(content) + len("<|im_end|>")))
            close = "" if (role == "assistant" and turn.get("open", False)) else "<|im_end|>\n"
            parts.append(prefix + content + close)
        if add_generation_prompt:
            parts.append("<|im_start|>assistant\n")
        return "".join(parts), spans

    def tokenize(
        self,
        conversation: list[dict],
        visual_tokens: int = 0,
        visual_kind: str = "video",
        add_generation_prompt: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Token ids, labels and `mm_token_type_ids` of a conversation whose visual has `visual_tokens` tokens."""
        token = None
        if visual_tokens:
            token = "<|video_pad|>" if visual_kind == "video" else "<|image_pad|>"
        text, spans = self.chat_text(conversation, token, add_generation_prompt)
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = torch.tensor(enc["input_ids"], dtype=torch.long)
        offsets = torch.tensor(enc["offset_mapping"], dtype=torch.long).view(-1, 2)
        supervised = torch.zeros(len(ids), dtype=torch.bool)
        for start, end in spans:
            supervised |= (offsets[:, 0] >= start) & (offsets[:, 1] <= end) & (offsets[:, 1] > offsets[:, 0])
        labels = torch.where(supervised, ids, torch.full_like(ids, IGNORE_INDEX))
        if token is not None:
            pad_id = self.video_token_id if visual_kind == "video" else self.image_token_id
            where = (ids == pad_id).nonzero().flatten()
            if len(where) != 1:
                raise ValueError(f"expected exactly one visual placeholder, found {len(where)} (text: {text[:200]!r})")
            pos = int(where[0])
            fill = torch.full((visual_tokens,), pad_id, dtype=torch.long)
            ids = torch.cat([ids[:pos], fill, ids[pos + 1 :]])
            labels = torch.cat([labels[:pos], torch.full_like(fill, IGNORE_INDEX), labels[pos + 1 :]])
        mm_types = torch.zeros_like(ids)
        mm_types[ids == self.image_token_id] = 1
        mm_types[ids == self.video_token_id] = 2
        return {"input_ids": ids, "labels": labels, "mm_token_type_ids": mm_types}

    # ------------------------------------------------------------------ visuals
    def visual_inputs(
        self,
        frames: torch.Tensor,
        as_video: bool = True,
        budget: tuple[int, int] | None = None,
        resize: str = "pil",
    ):
        """Qwen inputs of `(T, H, W, 3)` uint8 frames: pixel values, grid `(t, h, w)` and merged-token count.

        `resize` is the LLM frame resize (`resize_frames`): `"pil"` for images and frame lists, `"torch"` for frames
        decoded from a video file."""
        num_frames, height, width = frames.shape[:3]
        if as_video:
            min_px, max_px = budget or pixel_budget(num_frames, self.target_frames, self.min_tokens, self.max_tokens)
        else:
            min_px, max_px = budget or (
                self.image_min_tokens * TOKENS_PER_GROUP,
                self.image_max_tokens * TOKENS_PER_GROUP,
            )
        factor = self.patch_size * self.merge_size
        size = smart_size(height, width, min_px, max_px, factor=factor)
        resized = resize_frames(frames, size, resize)
        if as_video:
            if resized.shape[0] % self.temporal_patch_size:
                resized = torch.cat([resized, resized[-1:]], dim=0)
            out = self.video_processor(videos=[resized], return_tensors="pt", do_resize=False)
            pixels, grid = out["pixel_values_videos"], out["video_grid_thw"][0]
        else:
            if num_frames != 1:
                raise ValueError(f"the image path takes one frame, got {num_frames}")
            out = self.image_processor(images=[resized[0]], return_tensors="pt", do_resize=False)
            pixels, grid = out["pixel_values"], out["image_grid_thw"][0]
        return {"pixels": pixels, "grid_thw": grid, "num_tokens": int(grid.prod()) // self.merge_size**2}

    def sample_budget(self, sample: Sample, num_frames: int) -> tuple[int, int] | None:
        """Per-sample (min_pixels, max_pixels) from `sample.meta["pixel_budget"]`, or None (the processor's default).

        `meta["pixel_budget"]` = `(min_tokens, max_tokens)` merged tokens per frame (evaluation protocols differ per
        benchmark, docs/design.md §5.3). For a video the max is scaled like the default rule (`k = max(1,
        min(target // n, target))`) unless `meta["scale_pixel_budget"]` is False (a flat per-frame budget, e.g.
        MVBench); an image takes the bounds as they are.
        """
        tokens = sample.meta.get("pixel_budget")
        if tokens is None:
            return None
        min_tokens, max_tokens = (int(v) for v in tokens)
        if not 0 < min_tokens <= max_tokens:
            raise ValueError(f"{sample.dataset}/{sample.id}: invalid pixel_budget {tuple(tokens)} (merged tokens)")
        if sample.as_video and sample.meta.get("scale_pixel_budget", True):
            return pixel_budget(num_frames, self.target_frames, min_tokens, max_tokens)
        return min_tokens * TOKENS_PER_GROUP, max_tokens * TOKENS_PER_GROUP

    def seconds_per_group(self, sample: Sample) -> float:
        """Seconds one temporal group of the LLM video spans: `temporal_patch_size / sample_fps` (D4).

        `meta["sample_fps"]` is set by loaders that sample frames from a video file; frame lists count as 2 fps (the
        released code's default), i.e. 1 second per group.
        """
        fps = sample.meta.get("sample_fps")
        if fps is None:
            return 1.0
        fps = float(fps)
        if not fps > 0:
            raise ValueError(f"{sample.dataset}/{sample.id}: sample_fps must be positive, got {fps}")
        return self.temporal_patch_size / fps

    def prompts_to_sam(self, prompts: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Frame-pixel prompts `(P, 6)` → SAM input pixels (x scaled by S/W, y by S/H)."""
        prompts = torch.as_tensor(prompts, dtype=torch.float32).clone()
        scale = torch.tensor([self.sam2_image_size / width, self.sam2_image_size / height] * 2)
        prompts[:, 1:5] = prompts[:, 1:5] * scale
        return prompts

    # ------------------------------------------------------------------ samples
    def __call__(self, sample: Sample, add_generation_prompt: bool = False, with_sam2: bool = True) -> dict:
        """Model inputs of one sample (unbatched); see `collate` for batching."""
        frames = None
        if sample.frames is not None:
            array = sample.frames if isinstance(sample.frames, torch.Tensor) else np.ascontiguousarray(sample.frames)
            if isinstance(array, np.ndarray) and not array.flags.writeable:
                array = array.copy()
            frames = torch.as_tensor(array)
        out: dict = {"id": sample.id, "dataset": sample.dataset, "data_type": sample.data_type}
        visual_tokens, kind = 0, "video" if sample.as_video else "image"
        if frames is not None:
            if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
                raise ValueError(
                    f"{sample.dataset}/{sample.id}: frames must be (T, H, W, 3) uint8, got {tuple(frames.shape)} "
                    f"{frames.dtype}"
                )
            llm_index = sample.meta.get("llm_frame_index")
            llm_frames = frames if llm_index is None else frames[torch.as_tensor(llm_index, dtype=torch.long)]
            budget = self.sample_budget(sample, len(llm_frames))
            vis = self.visual_inputs(llm_frames, sample.as_video, budget, sample.meta.get("llm_resize", "pil"))
            visual_tokens = vis["num_tokens"]
            key = "pixel_values_videos" if sample.as_video else "pixel_values"
            out[key] = vis["pixels"]
            out["video_grid_thw" if sample.as_video else "image_grid_thw"] = vis["grid_thw"]
            if sample.as_video:
                out["second_per_grid_ts"] = self.seconds_per_group(sample)
            out["frame_size"] = tuple(frames.shape[1:3])
        out.update(self.tokenize(sample.conversation, visual_tokens, kind, add_generation_prompt))
        ids = out["input_ids"]
        n_ref = int((ids == self.ref_token_id).sum())
        n_prompts = 0 if sample.ref_prompts is None else len(sample.ref_prompts)
        if n_ref != n_prompts:
            raise ValueError(f"{sample.dataset}/{sample.id}: {n_ref} <|ref|> tokens but {n_prompts} visual prompts")
        if n_prompts:
            height, width = frames.shape[1:3]
            out["ref_prompts"] = self.prompts_to_sam(torch.as_tensor(sample.ref_prompts), height, width)
        if sample.refer_masks is not None:
            grid = out.get("video_grid_thw", out.get("image_grid_thw"))
            masks = torch.as_tensor(sample.refer_masks).bool()
            out["refer_mask"] = masks_to_token_grid(masks, grid.tolist(), self.patch_size)
            empty = ~out["refer_mask"].flatten(1).any(-1)
            if empty.any():
                raise ValueError(
                    f"{sample.dataset}/{sample.id}: objects {empty.nonzero().flatten().tolist()} have empty "
                    "memory masks after resizing to the visual token grid"
                )
            n_mem = int((ids == self.mem_token_id).sum())
            n_entries = int(out["refer_mask"].flatten(2).any(-1).sum())
            if n_mem != n_entries:
                raise ValueError(
                    f"{sample.dataset}/{sample.id}: {n_mem} <|mem|> tokens but the masks give {n_entries} "
                    "(object, temporal group) entries"
                )
        if with_sam2 and frames is not None:
            out["sam2_frames"] = sam2_transform(frames, self.sam2_image_size)
        if sample.seg_masks is not None:
            masks = torch.as_tensor(sample.seg_masks).bool()
            n_seg = int((ids == self.seg_token_id).sum())
            if masks.shape[0] != n_seg:
                raise ValueError(f"{sample.dataset}/{sample.id}: {n_seg} <|seg|> tokens but {masks.shape[0]} masks")
            if frames is not None and tuple(masks.shape[1:]) != tuple(frames.shape[:3]):
                raise ValueError(
                    f"{sample.dataset}/{sample.id}: masks {tuple(masks.shape)} do not match frames "
                    f"{tuple(frames.shape[:3])} (objects, frames, height, width)"
                )
            out["seg_masks"] = resize_masks(masks, (self.sam2_image_size,) * 2)
        return out

    def collate(self, items: list[dict], max_length: int | None = None) -> dict:
        """Right-pad ids / labels, concatenate Qwen pixel tensors, keep per-sample extras as lists.

        Truncation is refused rather than applied silently when a row would lose `<|seg|>`/`<|ref|>`/`<|mem|>` or
        visual tokens; over-long samples must be filtered by the dataset (it resamples them).
        """
        if max_length is not None:
            for item in items:
                if len(item["input_ids"]) > max_length:
                    raise ValueError(
                        f"{item.get('dataset')}/{item.get('id')}: {len(item['input_ids'])} tokens exceed max_length "
                        f"{max_length}"
                    )
        length = max(len(item["input_ids"]) for item in items)
        batch = {
            "input_ids": torch.full((len(items), length), self.pad_token_id, dtype=torch.long),
            "attention_mask": torch.zeros(len(items), length, dtype=torch.long),
            "labels": torch.full((len(items), length), IGNORE_INDEX, dtype=torch.long),
            "mm_token_type_ids": torch.zeros(len(items), length, dtype=torch.long),
        }
        for row, item in enumerate(items):
            n = len(item["input_ids"])
            batch["input_ids"][row, :n] = item["input_ids"]
            batch["attention_mask"][row, :n] = 1
            batch["labels"][row, :n] = item["labels"]
            batch["mm_token_type_ids"][row, :n] = item["mm_token_type_ids"]
        for key, grid_key in (("pixel_values", "image_grid_thw"), ("pixel_values_videos", "video_grid_thw")):
            present = [item for item in items if key in item]
            if present:
                batch[key] = torch.cat([item[key] for item in present])
                batch[grid_key] = torch.stack([item[grid_key] for item in present])
        if "video_grid_thw" in batch:
            # one entry per video, in batch order; frame lists count as 2 fps, i.e. 1 second per temporal group (D4)
            videos = [item for item in items if "pixel_values_videos" in item]
            batch["second_per_grid_ts"] = torch.tensor(
                [float(item.get("second_per_grid_ts", 1.0)) for item in videos], dtype=torch.float32
            )
        for key in ("ref_prompts", "refer_mask", "sam2_frames", "seg_masks"):
            if any(key in item for item in items):
                batch[key] = [item.get(key) for item in items]
        batch["frame_sizes"] = [item.get("frame_size") for item in items]
        batch["ids"] = [item["id"] for item in items]
        return batch


MODEL_INPUT_KEYS = (
    "input_ids",
    "attention_mask",
    "labels",
    "mm_token_type_ids",
    "pixel_values",
    "pixel_values_videos",
    "image_grid_thw",
    "video_grid_thw",
    "second_per_grid_ts",
    "ref_prompts",
    "refer_mask",
    "sam2_frames",
    "seg_masks",
)


def model_inputs(batch: dict) -> dict:
    """The keys of a collated batch that the model's `forward` takes."""
    return {k: batch[k] for k in MODEL_INPUT_KEYS if k in batch}
