"""A stateless predictor: media + prompt (+ visual prompts) → text and masks per object and frame.

    from unipixel.inference import Predictor
    predictor = Predictor.from_pretrained("model_zoo/UniPixel-3B")          # device="auto": cuda → mps → cpu
    result = predictor.predict("image.jpg", "Please segment the dog in this image.")
    result.text, result.masks[0]                                              # (T, H, W) bool per object

Every call builds its own inputs; nothing is cached between calls, so one predictor serves many videos and threads
of requests in turn. Frames are decoded once per request and shared by the LLM and SAM 2 paths, and all objects of a
request go through SAM 2 together (each frame encoded once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.processor import PixelProcessor, Sample, model_inputs
from ..model import PixelQwen2_5_VLForConditionalGeneration


def pick_device(device: str = "auto") -> torch.device:
    """`auto` → cuda, then mps, then cpu."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_image(path: str | Path) -> np.ndarray:
    """An RGB image file as `(1, H, W, 3)` uint8."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))[None]


@dataclass
class Prediction:
    """Result of one request.

    Attributes:
        text: the answer (special tokens removed, `<|seg|>` kept as written).
        masks: object index → `(T, H, W)` bool masks at the media's resolution, one object per `<|seg|>`, in order.
        scores: object index → `(T,)` object-presence logits.
        frame_index: indices of the media frames the masks refer to.
    """

    text: str
    masks: dict[int, torch.Tensor] = field(default_factory=dict)
    scores: dict[int, torch.Tensor] = field(default_factory=dict)
    frame_index: list[int] = field(default_factory=list)


class Predictor:
    """Wraps a UniPixel model with its tokenizer and processor for single requests."""

    def __init__(self, model: PixelQwen2_5_VLForConditionalGeneration, processor: PixelProcessor):
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: str = "auto", dtype: torch.dtype | None = None, sample_frames: int = 16
    ) -> Predictor:
        """Load a UniPixel checkpoint folder (model + tokenizer) strictly. fp32 on CPU, bf16 on GPU by default."""
        from transformers import AutoTokenizer

        target = pick_device(device)
        if dtype is None:
            dtype = torch.bfloat16 if target.type == "cuda" else torch.float32
        model = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=dtype).to(target)
        tokenizer = AutoTokenizer.from_pretrained(path)
        processor = PixelProcessor(tokenizer, sam2_image_size=model.config.sam2_image_size, target_frames=sample_frames)
        return cls(model, processor)

    def _frames(self, media) -> np.ndarray:
        if isinstance(media, np.ndarray):
            return media[None] if media.ndim == 3 else media
        if isinstance(media, torch.Tensor):
            return media.cpu().numpy()
        path = Path(media)
        if not path.exists():
            raise FileNotFoundError(f"media not found: {path}")
        if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".webp"):
            return load_image(path)
        raise ValueError(f"unsupported media {path} (image files and arrays are supported)")

    @torch.no_grad()
    def predict(
        self,
        media,
        prompt: str,
        visual_prompts: np.ndarray | None = None,
        answer: str | None = None,
        max_new_tokens: int = 512,
    ) -> Prediction:
        """Answer `prompt` about `media` (an image path or `(T, H, W, 3)` / `(H, W, 3)` uint8 array).

        Args:
            visual_prompts: `(P, 6)` `[kind, x1, y1, x2, y2, frame]` in media pixels (kind 0 point, 1 box), one per
                `<|ref|>` in the prompt.
            answer: a fixed assistant answer to read masks from instead of generating (teacher forcing), e.g.
                `"[0] <|seg|> [1] <|seg|>"` for memory pre-filling.
        """
        frames = self._frames(media)
        conversation = [{"role": "user", "content": prompt}]
        if answer is not None:
            conversation.append({"role": "assistant", "content": answer})
        sample = Sample("request", "predict", frames, conversation, ref_prompts=visual_prompts)
        return self.predict_sample(sample, max_new_tokens=max_new_tokens)

    @torch.no_grad()
    def predict_sample(self, sample: Sample, max_new_tokens: int = 512) -> Prediction:
        """Run one `Sample` (the structure every dataset loader produces).

        The conversation decides the mode: ending with a user turn → generate an answer; ending with an assistant
        turn marked `"open": True` (e.g. "The best option is (") → generate its continuation; ending with a complete
        assistant turn → teacher forcing, masks read from its `<|seg|>` tokens. `sample.meta["llm_frame_index"]`
        selects the LLM's frames; masks cover all frames.
        """
        last = sample.conversation[-1]
        teacher_forced = last["role"] == "assistant" and not last.get("open", False)
        item = self.processor(sample, add_generation_prompt=last["role"] == "user")
        batch = self.processor.collate([item])
        inputs = {k: self._to_device(v) for k, v in model_inputs(batch).items() if k not in ("labels", "seg_masks")}
        sam2_frames = inputs.pop("sam2_frames", None)
        sizes = batch["frame_sizes"]
        scores = None
        if teacher_forced:
            masks = self.model.segment_prompted(sam2_frames, sizes, **inputs)[0]
            text = last["content"]
        else:
            out = self.model.generate(
                **inputs, sam2_frames=sam2_frames, frame_sizes=sizes, max_new_tokens=max_new_tokens, do_sample=False
            )
            new = out.sequences[0, inputs["input_ids"].shape[1] :]
            text = self._decode(new)
            masks, scores = out.masks[0], out.mask_scores[0]
        num_frames = 0 if sample.frames is None else len(sample.frames)
        result = Prediction(text=text, frame_index=list(range(num_frames)))
        if masks is not None:
            for obj in range(masks.shape[0]):
                result.masks[obj] = masks[obj].cpu()
                if scores is not None:
                    result.scores[obj] = scores[obj].cpu()
        return result

    @torch.no_grad()
    def predict_two_round(self, sample: Sample, second_turn, max_new_tokens: int = 512) -> Prediction:
        """PixelQA's two rounds on one `Sample` through `model.two_round` (spec §6).

        `sample` is pass 1: `<|ref|>` prompts and a teacher-forced "[ID] <|seg|> ..." answer. `second_turn(sample,
        presence)` returns the pass-2 conversation from the `(O, t)` bool (object, temporal group) entries the pass-1
        masks fill (e.g. `unipixel.data.videorefer.pixelqa_second_turn`); pass 2 sees the same frames with the same
        pixel budget. Returns the pass-2 answer as `text` and the pass-1 masks (`(T, H, W)` per object, all frames).
        """
        item = self.processor(sample)
        batch = self.processor.collate([item])
        skip = ("labels", "seg_masks", "sam2_frames")
        first = {k: self._to_device(v) for k, v in model_inputs(batch).items() if k not in skip}
        prompt_len = {}

        def build_second(presence: torch.Tensor) -> dict:
            conversation = second_turn(sample, presence.cpu().numpy())
            second = Sample(sample.id, sample.dataset, sample.frames, conversation, sample.as_video, meta=sample.meta)
            inputs = model_inputs(self.processor.collate([self.processor(second, with_sam2=False)]))
            inputs = {k: self._to_device(v) for k, v in inputs.items() if k != "labels"}
            prompt_len["n"] = inputs["input_ids"].shape[1]
            return inputs

        grid = item["video_grid_thw" if sample.as_video else "image_grid_thw"]
        masks, out = self.model.two_round(
            first,
            build_second,
            self._to_device(item["sam2_frames"]),
            grid,
            frame_size=batch["frame_sizes"][0],
            llm_frame_index=sample.meta.get("llm_frame_index"),
            max_new_tokens=max_new_tokens,
            do_sample=False,
        )
        result = Prediction(
            text=self._decode(out.sequences[0, prompt_len["n"] :]), frame_index=list(range(masks.shape[1]))
        )
        for obj in range(masks.shape[0]):
            result.masks[obj] = masks[obj].cpu()
        return result

    def _decode(self, ids: torch.Tensor) -> str:
        keep = {self.processor.seg_token_id}
        special = set(self.tokenizer.all_special_ids) - keep
        return self.tokenizer.decode([int(i) for i in ids if int(i) not in special])

    def _to_device(self, value):
        if isinstance(value, torch.Tensor):
            return value.to(self.device)
        if isinstance(value, list):
            return [self._to_device(v) for v in value]
        return value
