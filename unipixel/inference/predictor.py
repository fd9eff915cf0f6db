"""A stateless predictor: media + prompt (+ visual prompts) → text and masks per object and frame.

    from unipixel.inference import Predictor, VisualPrompt
    predictor = Predictor.from_pretrained("model_zoo/UniPixel-3B")          # device="auto": cuda → mps → cpu
    result = predictor.predict("image.jpg", "Please segment the dog in this image.")
    result.text, result.masks[0]                                              # (T, H, W) bool per object
    result = predictor.predict("clip.mp4", "What is [0] doing? Please segment [1].",
                               [VisualPrompt.point(320, 200, frame=5), VisualPrompt.box(10, 20, 200, 180)])

Media is an image, a video file, a folder of frames or a uint8 array. Visual prompts are points and boxes (each
becomes a `<|ref|>` token after the object's first `[ID]` mention) or masks (each becomes `<|mem|>` tokens in the
memory block before the question, docs/design.md §1.5); each has a frame index into the media. The LLM sees
`sample_frames` uniformly spaced frames (prompted frames forced in); masks cover every frame of the media (or only
the LLM's frames with `sam2_frames="llm"`).

Every call builds its own inputs; nothing is cached between calls, so one predictor serves many videos and requests
in turn. Frames are decoded once per request and shared by the LLM and SAM 2 paths, and all objects of a request go
through SAM 2 together (each frame encoded once). `predict_batch` runs several requests in one padded batch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.processor import PixelProcessor, Sample, model_inputs, pixel_budget, smart_size
from ..data.templates import MEM, REF, memory_prefix
from ..model import PixelQwen2_5_VLForConditionalGeneration
from ..utils.masks import masks_to_token_grid
from .media import LazyFrames, Media, load_media, open_media, select_frames
from .streaming import MaskStream

PROMPT_KINDS = ("point", "box", "mask")


def pick_device(device: str = "auto") -> torch.device:
    """`auto` → cuda, then mps, then cpu."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA (what the release was trained in), fp32 elsewhere (bf16 matmuls are slow on CPUs)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


@dataclass
class VisualPrompt:
    """One object shown on one frame of the media.

    Attributes:
        kind: `point` (value `(x, y)`), `box` (value `(x1, y1, x2, y2)`, corners) or `mask` (value `(H, W)` bool).
            Coordinates are media pixels, x to the right, y down.
        value: the point, box or mask.
        frame: index of the media frame the prompt is drawn on (a video's own frame number, also when
            `load_media(max_frames=...)` kept only some frames; see `Media.index`).
    """

    kind: str
    value: np.ndarray
    frame: int = 0

    @classmethod
    def point(cls, x: float, y: float, frame: int = 0) -> VisualPrompt:
        return cls("point", np.array([x, y], dtype=np.float32), frame)

    @classmethod
    def box(cls, x1: float, y1: float, x2: float, y2: float, frame: int = 0) -> VisualPrompt:
        return cls("box", np.array([x1, y1, x2, y2], dtype=np.float32), frame)

    @classmethod
    def mask(cls, mask, frame: int = 0) -> VisualPrompt:
        return cls("mask", np.asarray(mask) > 0, frame)


@dataclass
class Request:
    """One request of `Predictor.predict_batch` (the arguments of `Predictor.predict`)."""

    media: object
    prompt: str
    visual_prompts: Sequence[VisualPrompt] | np.ndarray | None = None
    answer: str | None = None


@dataclass
class Prediction:
    """Result of one request.

    Attributes:
        text: the answer (special tokens removed, `<|seg|>` kept as written).
        masks: object index → `(T, H, W)` bool masks at the media's resolution, one object per `<|seg|>`, in order;
            position t is media frame `frame_index[t]`.
        scores: object index → `(T,)` object-presence logits (generated answers only).
        frame_index: indices of the media frames the masks refer to.
        llm_frame_index: the media frames shown to the LLM.
        prompt: the user turn as sent to the model (with `<|ref|>` / `<|mem|>` tokens).
    """

    text: str
    masks: dict[int, torch.Tensor] = field(default_factory=dict)
    scores: dict[int, torch.Tensor] = field(default_factory=dict)
    frame_index: list[int] = field(default_factory=list)
    llm_frame_index: list[int] = field(default_factory=list)
    prompt: str = ""

    def mask_at(self, obj: int, frame: int) -> torch.Tensor:
        """`(H, W)` bool mask of object `obj` on media frame `frame`."""
        if frame not in self.frame_index:
            raise KeyError(f"frame {frame} has no mask (masks cover media frames {self.frame_index[:8]}...)")
        return self.masks[obj][self.frame_index.index(frame)]


PROCESSOR_FILE = "unipixel_processor.json"


def processor_settings(path: str | Path) -> dict:
    """`PixelProcessor` settings a checkpoint was trained with (`unipixel_processor.json`, e.g. the toy run's pixel
    budget); empty for released checkpoints, which use the processor's defaults."""
    import json

    file = Path(path) / PROCESSOR_FILE
    if not file.is_file():
        return {}
    settings = json.loads(file.read_text())
    import inspect

    accepted = set(inspect.signature(PixelProcessor.__init__).parameters) - {"self", "tokenizer"}
    unknown = set(settings) - accepted
    if unknown:
        raise ValueError(f"{file}: unknown processor settings {sorted(unknown)}; accepted: {sorted(accepted)}")
    return settings


def load_predictor(
    model: str | Path,
    device: str = "auto",
    dtype: torch.dtype | str | None = None,
    sample_frames: int = 16,
    seed: int = 0,
) -> Predictor:
    """`Predictor.from_pretrained(model)`, or with `model="tiny"` a random tiny UniPixel (smoke runs: it works end to
    end but its answers and masks are arbitrary). `dtype` may be a name (`float32`, `bfloat16`, `float16`, `auto`)."""
    if isinstance(dtype, str):
        dtype = None if dtype == "auto" else getattr(torch, dtype)
    if str(model) == "tiny":
        from ..model.tiny import build_tiny_tokenizer, tiny_config

        tokenizer = build_tiny_tokenizer()
        torch.manual_seed(seed)
        net = PixelQwen2_5_VLForConditionalGeneration(tiny_config(tokenizer))
        target = pick_device(device)
        net = net.to(target, dtype=dtype or torch.float32)
        processor = PixelProcessor(tokenizer, sam2_image_size=net.config.sam2_image_size, target_frames=sample_frames)
        return Predictor(net, processor)
    return Predictor.from_pretrained(model, device=device, dtype=dtype, sample_frames=sample_frames)


# ---------------------------------------------------------------------------------------------- request building
def as_visual_prompts(visual_prompts) -> list[VisualPrompt]:
    """`VisualPrompt`s from a list of them, or from `(P, 6)` rows `[kind, x1, y1, x2, y2, frame]` (0 point, 1 box)."""
    if visual_prompts is None:
        return []
    if isinstance(visual_prompts, (np.ndarray, torch.Tensor)):
        rows = torch.as_tensor(visual_prompts, dtype=torch.float32).reshape(-1, 6).tolist()
        out = []
        for i, (kind, x1, y1, x2, y2, frame) in enumerate(rows):
            if kind not in (0, 1):
                raise ValueError(f"visual prompt row {i}: kind must be 0 (point) or 1 (box), got {kind}")
            out.append(
                VisualPrompt.point(x1, y1, int(frame)) if kind == 0 else VisualPrompt.box(x1, y1, x2, y2, int(frame))
            )
        return out
    out = list(visual_prompts)
    for i, vp in enumerate(out):
        if not isinstance(vp, VisualPrompt) or vp.kind not in PROMPT_KINDS:
            raise ValueError(f"visual prompt {i}: expected a VisualPrompt of kind {PROMPT_KINDS}, got {vp!r}")
    return out


def check_visual_prompt(i: int, vp: VisualPrompt, frames: Sequence[int], height: int, width: int) -> None:
    """Raise `ValueError` naming prompt `i` when it lies outside the media (`frames`: the media's frame indices)."""
    if int(vp.frame) not in frames:
        kept = f"{len(frames)} frames" if list(frames) == list(range(len(frames))) else f"frames {list(frames)[:12]}"
        raise ValueError(f"visual prompt {i} ({vp.kind}): frame {vp.frame} is not among the media's {kept}")
    value = np.asarray(vp.value)
    if vp.kind == "point":
        x, y = (float(v) for v in value.reshape(-1)[:2])
        if value.size != 2 or not (0 <= x <= width and 0 <= y <= height):
            raise ValueError(f"visual prompt {i} (point): ({x}, {y}) outside the {width} x {height} media")
    elif vp.kind == "box":
        if value.size != 4:
            raise ValueError(f"visual prompt {i} (box): expected x1, y1, x2, y2, got {value.tolist()}")
        x1, y1, x2, y2 = (float(v) for v in value)
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise ValueError(
                f"visual prompt {i} (box): ({x1}, {y1}, {x2}, {y2}) is not a box with x1 < x2, y1 < y2 inside the "
                f"{width} x {height} media"
            )
    elif value.shape != (height, width):
        raise ValueError(f"visual prompt {i} (mask): shape {value.shape} differs from the media's {(height, width)}")
    elif not value.any():
        raise ValueError(f"visual prompt {i} (mask): the mask is empty")


def check_question(prompt, num_prompts: int) -> None:
    """Refuse an empty question and `[k]` mentions without a visual prompt k (the literal `[k]` would reach the
    model, which then answers about an object it was never shown)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the question is empty; ask something about the media, e.g. 'Please segment the dog.'")
    mentioned = sorted({int(m) for m in re.findall(r"\[(\d+)\]", prompt)})
    unknown = [m for m in mentioned if m >= num_prompts]
    if unknown:
        given = f"objects [0]..[{num_prompts - 1}]" if num_prompts else "none"
        shown = ", ".join(f"[{m}]" for m in unknown)
        raise ValueError(
            f"the question mentions {shown} but {num_prompts} visual prompt(s) were given ({given}); give a point, "
            "box or mask for each object you mention, numbered in the order given"
        )


def insert_ref_tokens(prompt: str, ref_objects: Sequence[int]) -> tuple[str, list[int]]:
    """Write `<|ref|>` after the first `[ID]` mention of each point/box object.

    Returns the new prompt and the objects in the order their `<|ref|>` tokens appear (the order of the prompt rows).
    A prompt that already holds `<|ref|>` tokens is kept as written: one token per object, in the given order.
    """
    if REF in prompt:
        if prompt.count(REF) != len(ref_objects):
            raise ValueError(
                f"the prompt has {prompt.count(REF)} {REF} tokens but {len(ref_objects)} point/box prompts were given"
            )
        return prompt, list(ref_objects)
    found = []
    for obj in ref_objects:
        match = re.search(rf"\[{obj}\]", prompt)
        if match is None:
            raise ValueError(
                f"visual prompt {obj} is not mentioned in the prompt: write [{obj}] where the object is meant, e.g. "
                f"'What is [{obj}] doing?'"
            )
        found.append((match.end(), obj))
    for end, _ in sorted(found, reverse=True):
        prompt = f"{prompt[:end]} {REF}{prompt[end:]}"
    return prompt, [obj for _, obj in sorted(found)]


@contextmanager
def sam2_progress(model, total: int, enabled: bool = True):
    """A tqdm bar over `total` frames, advanced by each SAM 2 mask-decoder call (one per frame, all objects at once)."""
    if not enabled or not getattr(model, "has_pixel_modules", False):
        yield
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc="SAM 2 frames", unit="frame") as bar:

        def tick(*_) -> None:  # a forward hook's return value would replace the decoder's output
            bar.update(1)

        handle = model.sam2.sam_mask_decoder.register_forward_hook(tick)
        try:
            yield
        finally:
            handle.remove()


# ---------------------------------------------------------------------------------------------- predictor
class Predictor:
    """Wraps a UniPixel model with its tokenizer and processor; the CLI, the demo and the evaluators all call it."""

    # Media longer than this many frames take the streaming path where callers choose by length (the CLI, the
    # video evaluators): same masks, memory flat in the video's length (`predict_stream`). None: never.
    stream_above: int | None = 300

    def __init__(self, model: PixelQwen2_5_VLForConditionalGeneration, processor: PixelProcessor):
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: str = "auto",
        dtype: torch.dtype | None = None,
        sample_frames: int = 16,
        strict: bool = True,
        **model_kwargs,
    ) -> Predictor:
        """Load a UniPixel checkpoint folder (weights + tokenizer), strictly: a released UniPixel-3B/7B folder or our
        own export. `device="auto"` picks cuda → mps → cpu; `dtype` defaults to bf16 on CUDA and fp32 elsewhere
        (SAM 2 and the prompt encoders stay fp32 either way). `sample_frames` is the number of frames shown to the LLM.
        """
        from transformers import AutoTokenizer

        from ..utils.model_folder import check_model_folder

        check_model_folder(path)  # a missing folder or one without config.json fails here, naming it
        target = pick_device(device)
        dtype = default_dtype(target) if dtype is None else dtype
        model = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(
            path, dtype=dtype, strict=strict, **model_kwargs
        )
        tokenizer = AutoTokenizer.from_pretrained(path)
        processor = PixelProcessor(
            tokenizer,
            sam2_image_size=model.config.sam2_image_size,
            target_frames=sample_frames,
            **processor_settings(path),
        )
        return cls(model.to(target), processor)

    # ------------------------------------------------------------------ public API
    @torch.no_grad()
    def predict(
        self,
        media,
        prompt: str,
        visual_prompts: Sequence[VisualPrompt] | np.ndarray | None = None,
        answer: str | None = None,
        max_new_tokens: int = 512,
        *,
        sam2_frames: str = "all",
        progress: bool = False,
    ) -> Prediction:
        """Answer `prompt` about `media`.

        Args:
            media: an image / video file, a frame folder, a `Media`, or a `(T, H, W, 3)` / `(H, W, 3)` uint8 array.
            prompt: the question; refer to prompted object i as `[i]` (its index in `visual_prompts`).
            visual_prompts: `VisualPrompt`s (points, boxes, masks), or `(P, 6)` rows `[kind, x1, y1, x2, y2, frame]`
                (kind 0 point, 1 box) for a prompt that already holds one `<|ref|>` per row.
            answer: a fixed assistant answer to read masks from instead of generating (teacher forcing), e.g.
                `"[0] <|seg|> [1] <|seg|>"` to segment the prompted objects (memory pre-filling).
            sam2_frames: `all` (masks on every media frame) or `llm` (only on the frames shown to the LLM).
            progress: show a progress bar over the frames SAM 2 decodes.
        """
        sample = self.build_sample(media, prompt, visual_prompts, answer, sam2_frames=sam2_frames)
        return self.predict_samples([sample], max_new_tokens=max_new_tokens, progress=progress)[0]

    @torch.no_grad()
    def predict_batch(
        self,
        requests: Sequence[Request | dict],
        max_new_tokens: int = 512,
        *,
        sam2_frames: str = "all",
        progress: bool = False,
    ) -> list[Prediction]:
        """Several requests in one padded batch (left-padded for generation); results in request order."""
        samples = []
        for i, request in enumerate(requests):
            request = Request(**request) if isinstance(request, dict) else request
            samples.append(
                self.build_sample(
                    request.media,
                    request.prompt,
                    request.visual_prompts,
                    request.answer,
                    sam2_frames=sam2_frames,
                    sample_id=f"request{i}",
                )
            )
        return self.predict_samples(samples, max_new_tokens=max_new_tokens, progress=progress)

    @torch.no_grad()
    def predict_sample(self, sample: Sample, max_new_tokens: int = 512, progress: bool = False) -> Prediction:
        """Run one `Sample` (the structure every dataset loader produces).

        The conversation decides the mode: ending with a user turn → generate an answer; ending with an assistant
        turn marked `"open": True` (e.g. "The best option is (") → generate its continuation; ending with a complete
        assistant turn → teacher forcing, masks read from its `<|seg|>` tokens. `sample.meta["llm_frame_index"]`
        selects the LLM's frames; masks cover all frames.
        """
        return self.predict_samples([sample], max_new_tokens=max_new_tokens, progress=progress)[0]

    # ------------------------------------------------------------------ request → Sample
    def build_sample(
        self,
        media,
        prompt: str,
        visual_prompts: Sequence[VisualPrompt] | np.ndarray | None = None,
        answer: str | None = None,
        *,
        sam2_frames: str = "all",
        sample_id: str = "request",
    ) -> Sample:
        """The `Sample` of one request: LLM frames chosen (prompted frames forced in), `<|ref|>` tokens placed after
        the `[ID]` mentions of point/box objects, mask objects turned into the `<|mem|>` block before the question."""
        if sam2_frames not in ("all", "llm"):
            raise ValueError(f"sam2_frames must be 'all' or 'llm', got {sam2_frames!r}")
        prompts = as_visual_prompts(visual_prompts)
        check_question(prompt, len(prompts))
        if not isinstance(media, Media):
            media = load_media(media, keep=[int(vp.frame) for vp in prompts])
        frames = media.frames
        num_frames, height, width = frames.shape[:3]
        source = list(media.index) or list(range(num_frames))  # prompt frames and results use these indices
        for i, vp in enumerate(prompts):
            check_visual_prompt(i, vp, source, height, width)
        if MEM in prompt:
            raise ValueError(f"write [ID] for mask-prompted objects; the predictor builds the {MEM} block itself")
        in_media = {frame: pos for pos, frame in enumerate(source)}
        prompt_frames = [in_media[int(vp.frame)] for vp in prompts]
        llm_index = select_frames(num_frames, self.processor.target_frames, prompt_frames)
        position = {in_media_pos: pos for pos, in_media_pos in enumerate(llm_index)}

        ref_objects = [i for i, vp in enumerate(prompts) if vp.kind != "mask"]
        text, ref_order = insert_ref_tokens(prompt, ref_objects)
        ref_rows = None
        if ref_order:
            rows = []
            for obj in ref_order:
                vp = prompts[obj]
                xy = np.asarray(vp.value, dtype=np.float32).reshape(-1)
                coords = xy if vp.kind == "box" else np.concatenate([xy, np.zeros(2, np.float32)])
                rows.append(
                    [0.0 if vp.kind == "point" else 1.0, *coords.tolist(), float(position[in_media[int(vp.frame)]])]
                )
            ref_rows = np.asarray(rows, dtype=np.float32)

        mask_objects = [i for i, vp in enumerate(prompts) if vp.kind == "mask"]
        refer_masks = None
        if mask_objects:
            refer_masks = np.zeros((len(mask_objects), len(llm_index), height, width), dtype=bool)
            for k, obj in enumerate(mask_objects):
                refer_masks[k, position[in_media[int(prompts[obj].frame)]]] = prompts[obj].value
            groups = self._memory_groups(refer_masks, height, width)
            for k, obj in enumerate(mask_objects):
                if not groups[k]:
                    raise ValueError(
                        f"visual prompt {obj} (mask) covers no visual token once resized to the model's "
                        f"{self._llm_grid(len(llm_index), height, width)[1:]} patch grid; draw a larger mask"
                    )
            image = media.is_image or num_frames == 1
            text = memory_prefix(dict(zip(mask_objects, groups)), None if image else len(llm_index)) + text

        conversation = [{"role": "user", "content": text}]
        if answer is not None:
            conversation.append({"role": "assistant", "content": answer})
        if sam2_frames == "llm":
            kept = frames[llm_index] if len(llm_index) < num_frames else frames
            meta = {"media_frame_index": [source[i] for i in llm_index]}
            return Sample(
                sample_id, "predict", kept, conversation, ref_prompts=ref_rows, refer_masks=refer_masks, meta=meta
            )
        meta = {"media_frame_index": source}
        if len(llm_index) < num_frames:
            meta["llm_frame_index"] = llm_index
        return Sample(
            sample_id, "predict", frames, conversation, ref_prompts=ref_rows, refer_masks=refer_masks, meta=meta
        )

    def _llm_grid(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Qwen patch grid `(t, h, w)` the processor will give `num_frames` frames of `height x width` (video path)."""
        p = self.processor
        min_px, max_px = pixel_budget(num_frames, p.target_frames, p.min_tokens, p.max_tokens)
        h, w = smart_size(height, width, min_px, max_px, factor=p.patch_size * p.merge_size)
        return math.ceil(num_frames / p.temporal_patch_size), h // p.patch_size, w // p.patch_size

    def _memory_groups(self, refer_masks: np.ndarray, height: int, width: int) -> list[list[int]]:
        """Per object, the temporal groups where its mask covers at least one merged visual token."""
        grid = self._llm_grid(refer_masks.shape[1], height, width)
        tokens = masks_to_token_grid(torch.from_numpy(refer_masks), grid, self.processor.patch_size)
        present = tokens.flatten(2).any(-1)
        return [present[k].nonzero().flatten().tolist() for k in range(present.shape[0])]

    # ------------------------------------------------------------------ running
    def predict_samples(
        self, samples: Sequence[Sample], max_new_tokens: int = 512, progress: bool = False
    ) -> list[Prediction]:
        """Run samples as batches: teacher-forced ones in one forward, the others in one `generate` call."""
        results: list[Prediction | None] = [None] * len(samples)
        forced, generated = [], []
        for i, sample in enumerate(samples):
            last = sample.conversation[-1]
            (forced if last["role"] == "assistant" and not last.get("open", False) else generated).append(i)
        total = sum(0 if s.frames is None else len(s.frames) for s in samples)
        with sam2_progress(self.model, total, progress):
            if forced:
                for i, result in zip(forced, self._run_forced([samples[i] for i in forced])):
                    results[i] = result
            if generated:
                for i, result in zip(generated, self._run_generate([samples[i] for i in generated], max_new_tokens)):
                    results[i] = result
        return results

    def _batch(self, samples: Sequence[Sample], add_generation_prompt: bool, left_pad: bool):
        items = [
            self.processor(s, add_generation_prompt=add_generation_prompt and s.conversation[-1]["role"] == "user")
            for s in samples
        ]
        batch = self.processor.collate(items)
        if left_pad:
            lengths = batch["attention_mask"].sum(-1).tolist()
            width = batch["input_ids"].shape[1]
            for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
                value = batch[key]
                fill = self.processor.pad_token_id if key == "input_ids" else 0
                shifted = torch.full_like(value, fill)
                for row, n in enumerate(lengths):
                    shifted[row, width - n :] = value[row, :n]
                batch[key] = shifted
        inputs = {k: self._to_device(v) for k, v in model_inputs(batch).items() if k not in ("labels", "seg_masks")}
        return batch, inputs, inputs.pop("sam2_frames", None)

    def _run_forced(self, samples: Sequence[Sample]) -> list[Prediction]:
        for s in samples:
            if s.frames is None:
                raise ValueError(f"{s.dataset}/{s.id}: a teacher-forced answer needs media to segment")
        batch, inputs, sam2_frames = self._batch(samples, add_generation_prompt=False, left_pad=False)
        masks = self.model.segment_prompted(sam2_frames, batch["frame_sizes"], **inputs)
        return [self._result(s, s.conversation[-1]["content"], m, None) for s, m in zip(samples, masks)]

    def _run_generate(self, samples: Sequence[Sample], max_new_tokens: int) -> list[Prediction]:
        batch, inputs, sam2_frames = self._batch(samples, add_generation_prompt=True, left_pad=True)
        out = self.model.generate(
            **inputs,
            sam2_frames=sam2_frames,
            frame_sizes=batch["frame_sizes"],
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=self.processor.pad_token_id,
        )
        start = inputs["input_ids"].shape[1]
        return [
            self._result(s, self._decode(out.sequences[row, start:]), out.masks[row], out.mask_scores[row])
            for row, s in enumerate(samples)
        ]

    def _result(self, sample: Sample, text: str, masks, scores) -> Prediction:
        num_frames = 0 if sample.frames is None else len(sample.frames)
        frame_index = list(sample.meta.get("media_frame_index") or range(num_frames))
        llm_index = sample.meta.get("llm_frame_index")
        llm_frames = frame_index if llm_index is None else [frame_index[i] for i in llm_index]
        user = next((t["content"] for t in sample.conversation if t["role"] == "user"), "")
        result = Prediction(text=text, frame_index=frame_index, llm_frame_index=llm_frames, prompt=user)
        if masks is not None:
            for obj in range(masks.shape[0]):
                result.masks[obj] = masks[obj].cpu()
                if scores is not None:
                    result.scores[obj] = scores[obj].cpu()
        return result

    # ------------------------------------------------------------------ streaming (long videos)
    def streams(self, num_frames: int) -> bool:
        """Whether media of `num_frames` frames goes through the streaming path (`stream_above`; None: never)."""
        return self.stream_above is not None and num_frames > self.stream_above

    @torch.no_grad()
    def predict_stream(
        self,
        media,
        prompt: str,
        visual_prompts: Sequence[VisualPrompt] | np.ndarray | None = None,
        answer: str | None = None,
        max_new_tokens: int = 512,
        *,
        max_frames: int | None = None,
        fps: float | None = None,
        chunk_size: int = 16,
        offload_state: bool = False,
        progress: bool = False,
    ) -> MaskStream:
        """`predict` for long videos, with flat memory: returns a `MaskStream` whose text is known and whose masks are
        decoded as it is iterated, one chunk of `chunk_size` frames at a time (`unipixel.inference.streaming`).

        A path is opened without decoding (`open_media`; `max_frames` and `fps` as in `load_media`): the LLM's sampled
        frames are decoded for the answer, SAM 2's frames chunk by chunk as the stream is read. The masks equal
        `predict`'s, every pixel of every frame. `offload_state` keeps SAM 2's memory features in CPU memory.
        """
        prompts = as_visual_prompts(visual_prompts)
        media = open_media(media, max_frames, fps, keep=[int(vp.frame) for vp in prompts])
        sample = self.build_sample(media, prompt, prompts, answer, sam2_frames="llm")
        if isinstance(sample.frames, LazyFrames):  # a short video: all its frames are the LLM's
            sample.frames = np.asarray(sample.frames)
        frame_index = list(media.index) or list(range(len(media.frames)))
        llm = sample.meta["media_frame_index"]
        return self._stream(sample, media.frames, frame_index, llm, max_new_tokens, chunk_size, offload_state, progress)

    @torch.no_grad()
    def stream_sample(
        self,
        sample: Sample,
        max_new_tokens: int = 512,
        *,
        chunk_size: int = 16,
        offload_state: bool = False,
        progress: bool = False,
    ) -> MaskStream:
        """`predict_sample` as a `MaskStream` (the evaluators' long videos): the LLM sees `meta["llm_frame_index"]`
        exactly as there, SAM 2 reads `sample.frames` chunk by chunk; the masks equal `predict_sample`'s."""
        if sample.frames is None:
            raise ValueError(f"{sample.dataset}/{sample.id}: streaming needs frames to segment")
        llm_index = sample.meta.get("llm_frame_index")
        meta = {k: v for k, v in sample.meta.items() if k != "llm_frame_index"}
        llm_frames = sample.frames if llm_index is None else sample.frames[list(llm_index)]
        llm_sample = Sample(
            sample.id,
            sample.dataset,
            llm_frames,
            sample.conversation,
            sample.as_video,
            ref_prompts=sample.ref_prompts,
            refer_masks=sample.refer_masks,
            data_type=sample.data_type,
            meta=meta,
        )
        frame_index = list(sample.meta.get("media_frame_index") or range(len(sample.frames)))
        llm = frame_index if llm_index is None else [frame_index[i] for i in llm_index]
        return self._stream(
            llm_sample, sample.frames, frame_index, llm, max_new_tokens, chunk_size, offload_state, progress
        )

    def _stream(
        self, llm_sample, frames, frame_index, llm_frames, max_new_tokens, chunk_size, offload_state, progress
    ) -> MaskStream:
        """The LLM's answer and `<|seg|>` prompts from `llm_sample` (its frames are the LLM's only), then a
        `MaskStream` over `frames`. The inputs are those `predict_samples` builds for one request."""
        last = llm_sample.conversation[-1]
        forced = last["role"] == "assistant" and not last.get("open", False)
        item = self.processor(llm_sample, add_generation_prompt=not forced and last["role"] == "user", with_sam2=False)
        batch = self.processor.collate([item])
        inputs = {k: self._to_device(v) for k, v in model_inputs(batch).items() if k not in ("labels", "seg_masks")}
        hidden = None
        if forced:
            text = last["content"]
            if getattr(self.model, "has_pixel_modules", False):
                hidden = self.model.prompted_seg_hidden(**inputs)[0]
        else:
            out = self.model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=self.processor.pad_token_id
            )
            text = self._decode(out.sequences[0, inputs["input_ids"].shape[1] :])
            hidden = (out.seg_hidden or [None])[0]
        user = next((t["content"] for t in llm_sample.conversation if t["role"] == "user"), "")
        return MaskStream(
            self.model,
            frames,
            hidden,
            text=text,
            prompt=user,
            frame_index=frame_index,
            llm_frame_index=llm_frames,
            chunk_size=chunk_size,
            offload_state=offload_state,
            progress=progress,
        )

    @torch.no_grad()
    def predict_two_round(self, sample: Sample, second_turn, max_new_tokens: int = 512) -> Prediction:
        """PixelQA's two rounds on one `Sample` through `model.two_round` (docs/design.md §6).

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
