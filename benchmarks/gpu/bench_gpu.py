"""One-GPU benchmark of UniPixel against the stock Qwen2.5-VL, every row measured in the same run, printed as one table.

    python benchmarks/gpu/bench_gpu.py                         # real 3B/7B architectures, random init, bf16, one GPU
    python benchmarks/gpu/bench_gpu.py --tiny                  # tiny configs on the CPU: a smoke run of every row
    python benchmarks/gpu/bench_gpu.py --steps 5 --warmup 2 --json bench.json

Nothing is downloaded: models are built with random weights from `configs/model/unipixel_{3b,7b}.yaml` (the tiny
configs of `unipixel.model.tiny` under `--tiny`). Rows:

1. stock step: transformers' `Qwen2_5_VLForConditionalGeneration` (the same LLM + ViT config), LoRA as stage 3
   configures it (`configs/stage/stage3.yaml`, `unipixel.train.modules.configure_trainable`), the same tokens.
2. UniPixel stage-3 step: `PixelQwen2_5_VLForConditionalGeneration` with stage 3's trainable set (LoRA r128/a256 on
   LLM + ViT attention, embeddings, prompt / memory / seg heads, all of SAM 2 at its own learning rate), 8 frames at
   the stage-3 pixel budget (256 merged tokens per frame, 1024 video tokens), 3 objects with masks, so SAM 2 tracks
   3 objects over 8 frames at 768 px and the mask loss is back-propagated. Both steps: AdamW, bf16 weights on a GPU
   (SAM 2 and the prompt encoders in fp32 under bf16 autocast, as the model keeps them), gradient checkpointing of
   the LLM and ViT (`--no-grad-ckpt` turns it off), SDPA or flash-attention 2 when installed.
3. SAM 2 decoding of 3 objects: one session per object (the original's way, `PixelSAM2.per_object_segment`) vs one
   batched session (`PixelSAM2.segment`), and tracking frames/s with the frames encoded up front in batches of 16.
4. Inference: a prompt over 16 LLM frames (2048 video tokens), a scripted answer of 32 tokens holding
   one (or three) `<|seg|>`, masks over 64 SAM 2 frames; end-to-end latency, per-token decode time, peak memory.
5. The 7B stage-3 step when it fits in GPU memory; otherwise the memory it would need, estimated from parameter
   counts by `benchmarks/memory_table.py`.

Step time is the median over `--steps` timed steps after `--warmup` untimed ones; tokens/s = LLM sequence length /
step time; peak memory = `torch.cuda.max_memory_allocated` since the row started ("n/a" on a CPU).

FLOP counting (model FLOPs, so MFU compares across implementations): for every dense weight the step touches,
2 x N x tokens forward and 4 x N x tokens backward, N = the weight's elements (LLM layers and `lm_head` over the LLM
tokens, ViT blocks and patch embedding over the patches, the merger over the merged tokens, LoRA adapters with their
layer, `seg_head` over the `<|seg|>` positions), counted whether or not the weight is trained. Attention adds
4 x q_len x k_len x width per layer forward (QK^T and AV, the full square even for causal masks, PaLM's convention)
and twice that backward: LLM layers over the whole sequence, ViT window blocks per window, ViT full blocks per
temporal group. SAM 2's convolutions and windowed attention reuse weights across pixels, so its forward FLOPs are
counted by `torch.utils.flop_counter` on the same inputs (attention on the math kernel so it is counted) and tripled
for forward + backward. MFU = model FLOPs / step time / the device's dense bf16 peak (`--peak-tflops`; H100 / H200
989 TFLOP/s).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "benchmarks"):  # run as a script: neither is on sys.path
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from omegaconf import OmegaConf  # noqa: E402

PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "H800": 989.0, "A100": 312.0, "A800": 312.0, "L40S": 362.0}
GIB = 2**30
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


# ---------------------------------------------------------------------------------------------------------- setup
@dataclass
class Settings:
    """Sizes of one run (real or tiny)."""

    tiny: bool
    device: torch.device
    dtype: torch.dtype
    train_frames: int  # frames of the training clip (LLM and SAM 2)
    train_grid: int  # ViT patches per frame side (32 = 448 px = 16 x 16 merged tokens)
    text_before: int  # text tokens before the video (system prompt, user turn opening)
    text_after: int  # question tokens after the video
    answer_tokens: int  # supervised answer tokens (they hold the <|seg|> tokens)
    objects: int
    infer_llm_frames: int
    infer_grid: int
    infer_sam_frames: int
    decode_frames: int
    track_frames: int
    steps: int
    warmup: int
    grad_ckpt: bool
    peak_tflops: float | None


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / GIB


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def device_peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def timed(fn, steps: int, warmup: int, device: torch.device) -> list[float]:
    """Run `fn` `warmup` times untimed, then `steps` times timed; returns the timed seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------------------------------------------------- models
def unipixel_config(size: str, tiny: bool):
    """`PixelQwen2_5_VLConfig` of `configs/model/unipixel_<size>.yaml`, or a tiny one (the tiny 7B unties lm_head, the
    7B's structural difference)."""
    if tiny:
        from unipixel.model.tiny import build_tiny_tokenizer, tiny_config

        config = tiny_config(build_tiny_tokenizer())
        if size == "7b":
            config.tie_word_embeddings = False
            config.text_config.tie_word_embeddings = False
        return config
    from hydra.utils import instantiate

    return instantiate(OmegaConf.load(REPO / "configs" / "model" / f"unipixel_{size}.yaml").config)


def stock_config(config):
    """The stock Qwen2.5-VL config with the same LLM, ViT and token ids (no UniPixel fields)."""
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(
        text_config=config.text_config.to_dict(),
        vision_config=config.vision_config.to_dict(),
        image_token_id=config.image_token_id,
        video_token_id=config.video_token_id,
        vision_start_token_id=config.vision_start_token_id,
        vision_end_token_id=config.vision_end_token_id,
        tie_word_embeddings=config.tie_word_embeddings,
    )


def stage3_settings() -> dict:
    """`configs/stage/stage3.yaml` with the release's values (no card preset: its `hardware.stage3` lookups take their
    defaults, e.g. `sample_objects` 5)."""
    stage = OmegaConf.load(REPO / "configs" / "stage" / "stage3.yaml")
    return OmegaConf.to_container(stage, resolve=True)


def build(model_class, config, device: torch.device, dtype: torch.dtype, attn: str):
    """Random-init model built directly on `device` in `dtype`; modules the class keeps in fp32 are cast back."""
    config._attn_implementation = attn
    with torch.device(device):
        model = model_class._from_config(config, dtype=dtype, attn_implementation=attn)
    for name in getattr(model, "_keep_in_fp32_modules_strict", None) or []:
        module = getattr(model, name, None)
        if isinstance(module, nn.Module):
            module.float()
    return model.to(device)


def prepare_training(model, tuning_modules: list[str], lora: dict, grad_ckpt: bool, lr: float, sam2_lr: float | None):
    """Stage-3 trainable selection, gradient checkpointing as the trainer enables it, AdamW with the SAM 2 group."""
    from unipixel.train.modules import configure_trainable, parameter_groups

    model = configure_trainable(model, tuning_modules, lora)
    if grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    optimizer = torch.optim.AdamW(parameter_groups(model, lr, sam2_lr, 0.0), lr=lr)
    return model, optimizer


# ---------------------------------------------------------------------------------------------------------- inputs
@dataclass
class Inputs:
    """Model inputs of one synthetic sample plus the counts FLOPs are computed from."""

    kwargs: dict
    seq_len: int
    grid_thw: tuple[int, int, int]
    seg_count: int
    answer: list[int] = field(default_factory=list)  # scripted answer ids (inference)

    @property
    def patches(self) -> int:
        t, h, w = self.grid_thw
        return t * h * w


def text_ids(config, count: int, generator: torch.Generator) -> torch.Tensor:
    """`count` ordinary token ids (below every special token id)."""
    specials = [
        config.image_token_id,
        config.video_token_id,
        config.vision_start_token_id,
        config.vision_end_token_id,
        getattr(config, "seg_token_id", None),
        config.text_config.eos_token_id,
    ]
    ceiling = min(i for i in specials if isinstance(i, int))
    return torch.randint(0, ceiling, (count,), generator=generator)


def answer_ids(config, length: int, objects: int, generator: torch.Generator) -> list[int]:
    """`length` answer ids with `objects` `<|seg|>` tokens spread over it, ending with the end-of-turn token."""
    ids = text_ids(config, length - 1, generator).tolist()
    for k in range(objects):
        ids[(k + 1) * (length - 1) // (objects + 1)] = config.seg_token_id
    return ids + [config.text_config.eos_token_id]


def box_masks(objects: int, frames: int, size: int, device: torch.device) -> torch.Tensor:
    """`(O, T, S, S)` bool boxes, one per object, drifting right over the clip."""
    masks = torch.zeros(objects, frames, size, size, dtype=torch.bool, device=device)
    side = size // 4
    for o in range(objects):
        y = (o * size // max(objects, 1)) % (size - side)
        for t in range(frames):
            x = (t * size // (4 * frames) + o * side) % (size - side)
            masks[o, t, y : y + side, x : x + side] = True
    return masks


def video_inputs(
    config,
    frames: int,
    grid: int,
    before: int,
    after: int,
    answer: list[int],
    device: torch.device,
    dtype: torch.dtype,
    generator: torch.Generator,
    train: bool,
) -> Inputs:
    """A user turn with a video of `frames` frames (`grid` x `grid` patches each) and an answer.

    Training: the answer is in the sequence and supervised. Inference: the sequence ends where the answer would start.
    """
    vis = config.vision_config
    t = math.ceil(frames / vis.temporal_patch_size)
    merged = t * grid * grid // vis.spatial_merge_size**2
    parts = [
        text_ids(config, before, generator),
        torch.tensor([config.vision_start_token_id]),
        torch.full((merged,), config.video_token_id),
        torch.tensor([config.vision_end_token_id]),
        text_ids(config, after, generator),
    ]
    if train:
        parts.append(torch.tensor(answer))
    ids = torch.cat(parts)[None].to(device)
    mm_types = torch.where(ids == config.video_token_id, 2, 0)
    patch_dim = vis.in_channels * vis.temporal_patch_size * vis.patch_size**2
    kwargs = dict(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        mm_token_type_ids=mm_types,
        pixel_values_videos=torch.randn(t * grid * grid, patch_dim, generator=generator).to(device, dtype),
        video_grid_thw=torch.tensor([[t, grid, grid]], device=device),
        second_per_grid_ts=torch.ones(1, device=device),
    )
    seg_count = answer.count(config.seg_token_id) if train else 0
    if train:
        labels = torch.full_like(ids, -100)
        labels[:, -len(answer) :] = ids[:, -len(answer) :]
        kwargs["labels"] = labels
    return Inputs(kwargs, ids.shape[1], (t, grid, grid), seg_count, list(answer))


def sam2_frames(frames: int, size: int, device: torch.device, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(frames, 3, size, size, generator=generator).to(device)


# ---------------------------------------------------------------------------------------------------------- FLOPs
def dense_forward_flops(model: nn.Module, inputs: Inputs, merge: int) -> float:
    """2 x N x tokens over every Linear / Conv weight of the LLM, ViT, merger and `seg_head` (LoRA adapters included);
    other UniPixel heads see no tokens in these inputs and SAM 2 is counted separately."""
    from unipixel.train.modules import strip_peft

    tokens_by_prefix = (
        ("model.visual.merger.", inputs.patches // merge),
        ("model.visual.", inputs.patches),
        ("model.language_model.", inputs.seq_len),
        ("lm_head", inputs.seq_len),
        ("seg_head.", inputs.seg_count),
    )
    total = 0.0
    for name, module in model.named_modules():
        if not isinstance(module, (nn.Linear, nn.Conv3d, nn.Conv2d)):
            continue
        plain = strip_peft(name)
        tokens = next((n for prefix, n in tokens_by_prefix if plain.startswith(prefix)), 0)
        total += 2.0 * module.weight.numel() * tokens
    return total


def attention_forward_flops(config, inputs: Inputs) -> float:
    """4 x q_len x k_len x width per layer: the LLM over the whole sequence, the ViT per window / temporal group."""
    from transformers.vision_utils import get_vision_window_index

    text, vis = config.text_config, config.vision_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    llm = text.num_hidden_layers * 4.0 * inputs.seq_len**2 * text.num_attention_heads * head_dim
    t, h, w = inputs.grid_thw
    grid = torch.tensor([[t, h, w]])
    _, cu_windows = get_vision_window_index(grid, vis.spatial_merge_size, vis.window_size, vis.patch_size)
    cu_windows = torch.as_tensor(cu_windows)
    windows = (cu_windows[1:] - cu_windows[:-1]).double()
    window_sq = float((windows**2).sum())
    full_sq = float(t * (h * w) ** 2)
    width = vis.hidden_size
    vit = 0.0
    for block in range(vis.depth):
        vit += 4.0 * width * (full_sq if block in vis.fullatt_block_indexes else window_sq)
    return llm + vit


class FlopCount(TorchDispatchMode):
    """Adds up torch's per-operator FLOP formulas (`torch.utils.flop_counter`) over everything run inside it.

    (torch's own `FlopCounterMode` also tracks modules, which breaks on SAM 2's no-grad helpers.)"""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def counted_flops(fn) -> float:
    """Forward FLOPs of `fn()` by torch's FLOP formulas, attention on the math kernel (so its matmuls are counted)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCount() as counter:
        fn()
    return float(counter.total)


def step_flops(model, config, inputs: Inputs, sam2_forward: float = 0.0) -> dict[str, float]:
    merge = config.vision_config.spatial_merge_size**2
    dense = dense_forward_flops(model, inputs, merge)
    attention = attention_forward_flops(config, inputs)
    forward = dense + attention + sam2_forward
    return {"dense_fwd": dense, "attention_fwd": attention, "sam2_fwd": sam2_forward, "model_flops": 3 * forward}


# ---------------------------------------------------------------------------------------------------------- rows
@dataclass
class Row:
    key: str
    title: str
    time: str = ""
    rate: str = ""
    memory: str = "n/a"
    mfu: str = ""
    versus: str = ""
    notes: str = ""
    data: dict = field(default_factory=dict)


def fmt_mem(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} GiB"


def fmt_mfu(flops: float, seconds: float, peak: float | None) -> tuple[str, float | None]:
    achieved = flops / seconds / 1e12
    if not peak:
        return f"{achieved:.2f} TFLOP/s", None
    return f"{100 * achieved / peak:.1f}% ({achieved:.1f} TFLOP/s)", achieved / peak


def train_step_row(key: str, title: str, model, optimizer, inputs: Inputs, flops: dict, s: Settings) -> Row:
    losses = []

    def step():
        out = model(**inputs.kwargs)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(out.loss.detach()))

    reset_peak(s.device)
    times = timed(step, s.steps, s.warmup, s.device)
    if not all(math.isfinite(v) for v in losses):
        raise RuntimeError(f"{title}: non-finite loss {losses}")
    seconds = median(times)
    mfu_text, mfu = fmt_mfu(flops["model_flops"], seconds, s.peak_tflops)
    peak = peak_gib(s.device)
    return Row(
        key,
        title,
        time=f"{seconds:.3f} s/step",
        rate=f"{inputs.seq_len / seconds:.0f} tokens/s",
        memory=fmt_mem(peak),
        mfu=mfu_text,
        notes=f"{inputs.seq_len} tokens ({inputs.patches} patches), loss {losses[-1]:.2f}",
        data=dict(
            step_s=seconds,
            step_times_s=times,
            tokens=inputs.seq_len,
            patches=inputs.patches,
            tokens_per_s=inputs.seq_len / seconds,
            peak_gib=peak,
            mfu=mfu,
            losses=losses,
            **flops,
        ),
    )


def stock_step(config, s: Settings, attn: str, stage: dict, inputs: Inputs) -> Row:
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = build(Qwen2_5_VLForConditionalGeneration, stock_config(config), s.device, s.dtype, attn)
    model, optimizer = prepare_training(model, ["lora"], stage["lora"], s.grad_ckpt, stage["learning_rate"], None)
    kwargs = {k: v for k, v in inputs.kwargs.items() if k not in ("sam2_frames", "seg_masks")}
    plain = Inputs(kwargs, inputs.seq_len, inputs.grid_thw, 0)
    flops = step_flops(model, config, plain)
    name = "tiny Qwen2.5-VL" if s.tiny else "Qwen2.5-VL-3B"
    row = train_step_row("stock_step", f"stock {name} LoRA step", model, optimizer, plain, flops, s)
    row.notes += ", LoRA only"
    del model, optimizer
    free_memory(s.device)
    return row


def unipixel_training(config, s: Settings, attn: str, stage: dict, inputs: Inputs):
    """Build the stage-3 model and optimizer; returns (model, optimizer, flops)."""
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration

    for key, value in (stage.get("model_overrides") or {}).items():
        setattr(config, key, value)
    model = build(PixelQwen2_5_VLForConditionalGeneration, config, s.device, s.dtype, attn)
    base = model

    def sam2_pass():
        hidden = torch.randn(inputs.seg_count, config.sam2_hidden_tokens, base.sam2.sam_prompt_embed_dim)
        frames, masks = inputs.kwargs["sam2_frames"][0], inputs.kwargs["seg_masks"][0]
        base.segment_with_loss([hidden.to(s.device)], [frames], [masks])

    sam2_forward = counted_flops(sam2_pass)
    model, optimizer = prepare_training(
        model,
        list(stage["tuning_modules"]),
        stage["lora"],
        s.grad_ckpt,
        stage["learning_rate"],
        stage.get("sam2_learning_rate"),
    )
    flops = step_flops(model, config, inputs, sam2_forward)
    return model, optimizer, flops


def sam2_rows(sam, s: Settings, context) -> list[Row]:
    """Per-object vs batched decoding of 3 objects, and tracking frames/s with frames encoded up front.

    `context()` gives the precision context SAM 2 runs under (the model's bf16 autocast on a GPU)."""
    generator = torch.Generator().manual_seed(1)
    size = sam.image_size
    sam.eval()
    rows = []
    frames = sam2_frames(s.decode_frames, size, s.device, generator)
    hidden = torch.randn(s.objects, 2, sam.sam_prompt_embed_dim, generator=generator).to(s.device)
    results = {}

    def batched():
        results["batched"] = torch.cat([out.best_logits for _, out in sam.segment(frames, hidden)], dim=1)

    def per_object():
        results["per_object"] = sam.per_object_segment(frames, hidden)

    with torch.no_grad(), context():
        reset_peak(s.device)
        t_batched = median(timed(batched, max(1, s.steps // 2), 1, s.device))
        t_single = median(timed(per_object, max(1, s.steps // 2), 1, s.device))
        diff = float((results["batched"].float() - results["per_object"].float()).abs().max())
    rows.append(
        Row(
            "sam2_decode",
            f"SAM 2 decode, {s.objects} objects x {s.decode_frames} frames @ {size} px",
            time=f"{t_batched:.3f} s batched / {t_single:.3f} s per object",
            rate=f"{s.decode_frames / t_batched:.1f} frames/s batched",
            memory=fmt_mem(peak_gib(s.device)),
            versus=f"{t_single / t_batched:.2f}x faster batched",
            notes=f"max |logit diff| {diff:.1e}",
            data=dict(batched_s=t_batched, per_object_s=t_single, speedup=t_single / t_batched, max_abs_diff=diff),
        )
    )

    frames = sam2_frames(s.track_frames, size, s.device, generator)
    track = {}
    with torch.no_grad(), context():
        reset_peak(s.device)
        encode_s = median(timed(lambda: track.update(f=sam.encode_frames(frames, 16)), 1, 1, s.device))
        for objects in (1, s.objects):
            prompt = torch.randn(objects, 2, sam.sam_prompt_embed_dim, generator=generator).to(s.device)
            seconds = median(
                timed(lambda prompt=prompt: list(sam.segment(frames, prompt, features=track["f"])), 1, 1, s.device)
            )
            track[objects] = seconds
    one, many = track[1], track[s.objects]
    rows.append(
        Row(
            "sam2_tracking",
            f"SAM 2 tracking, {s.track_frames} frames @ {size} px (encoded up front, batches of 16)",
            time=f"encode {encode_s:.3f} s + track {one:.3f} s (1 obj) / {many:.3f} s ({s.objects} obj)",
            rate=(
                f"{s.track_frames / (encode_s + one):.1f} / {s.track_frames / (encode_s + many):.1f} frames/s "
                f"(encoder alone {s.track_frames / encode_s:.0f})"
            ),
            memory=fmt_mem(peak_gib(s.device)),
            data=dict(
                encode_s=encode_s,
                track_1_s=one,
                track_n_s=many,
                fps_1=s.track_frames / (encode_s + one),
                fps_n=s.track_frames / (encode_s + many),
                encoder_fps=s.track_frames / encode_s,
            ),
        )
    )
    return rows


class ScriptedAnswer:
    """Logits processor that makes generation emit a fixed answer (a random model would not emit `<|seg|>`)."""

    def __init__(self, prompt_len: int, answer: list[int]):
        self.prompt_len, self.answer = prompt_len, answer

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = min(input_ids.shape[1] - self.prompt_len, len(self.answer) - 1)
        forced = torch.full_like(scores, float("-inf"))
        forced[:, self.answer[step]] = 0.0
        return forced


def inference_rows(model, config, s: Settings, answer_tokens: int) -> list[Row]:
    """Latency of one answer with 1 and with `objects` `<|seg|>` (masks over the SAM 2 frames), per-token decode."""
    from transformers import LogitsProcessorList

    generator = torch.Generator().manual_seed(2)
    frames = sam2_frames(s.infer_sam_frames, config.sam2_image_size, s.device, generator)
    rows = []
    model.eval()
    for objects in (1, s.objects):
        answer = answer_ids(config, answer_tokens, objects, generator)
        inputs = video_inputs(
            config, s.infer_llm_frames, s.infer_grid, s.text_before, 40, answer, s.device, s.dtype, generator, False
        )

        def generate(script: list[int], with_masks: bool, inputs=inputs):
            processors = LogitsProcessorList([ScriptedAnswer(inputs.seq_len, script)])
            return model.generate(
                **inputs.kwargs,
                sam2_frames=[frames] if with_masks else None,
                logits_processor=processors,
                max_new_tokens=len(script),
                do_sample=False,
            )

        out = {}
        with torch.no_grad():
            generate(answer, False)  # warm-up
            reset_peak(s.device)
            prefill = median(timed(lambda a=answer: generate(a[:1], False), 1, 0, s.device))
            text = median(timed(lambda a=answer: generate(a, False), 1, 0, s.device))
            total = median(timed(lambda a=answer, o=out: o.update(r=generate(a, True)), 1, 0, s.device))
        result = out["r"]
        new = result.sequences.shape[1] - inputs.seq_len
        if new != len(answer) or result.masks[0] is None or result.masks[0].shape[0] != objects:
            raise RuntimeError(f"inference: expected {len(answer)} tokens and {objects} mask tracks, got {new}")
        per_token = (text - prefill) / max(new - 1, 1)
        rows.append(
            Row(
                f"infer_{objects}obj",
                f"inference, {objects} <|seg|>: {s.infer_llm_frames} LLM frames, {s.infer_sam_frames} SAM 2 frames",
                time=f"{total:.3f} s end to end",
                rate=f"{1000 * per_token:.1f} ms/token decode",
                memory=fmt_mem(peak_gib(s.device)),
                notes=(
                    f"prefill {inputs.seq_len} tokens {prefill:.3f} s, {new} tokens, masks {total - text:.3f} s "
                    f"({tuple(result.masks[0].shape)})"
                ),
                data=dict(
                    latency_s=total,
                    prefill_s=prefill,
                    text_s=text,
                    masks_s=total - text,
                    decode_ms_per_token=1000 * per_token,
                    prompt_tokens=inputs.seq_len,
                    new_tokens=new,
                    peak_gib=peak_gib(s.device),
                ),
            )
        )
    return rows


_COUNTS: dict = {}
_SAM2_ACTIVATIONS: dict = {}


def memory_estimate(config, s: Settings, inputs: Inputs) -> dict:
    """What `benchmarks/memory_table.py` predicts for this step on one GPU (plain AdamW on bf16 weights, as here):
    GiB per term, from parameter counts, its activation formulas and SAM 2 measured on the CPU."""
    import memory_table as mt

    key = (config.text_config.hidden_size, config.text_config.num_hidden_layers, config.tie_word_embeddings)
    if key not in _COUNTS:
        _COUNTS[key] = mt.count_parameters(config, mt.load_stages(), "")
    counts = _COUNTS[key]
    size = config.sam2_image_size
    sam_key = (config.sam2_config, size, tuple(config.sam2_overrides or ()), config.sam2_drop_path, s.train_frames)
    if sam_key not in _SAM2_ACTIVATIONS:  # measured on the CPU, a few seconds: once per SAM 2 config
        _SAM2_ACTIVATIONS[sam_key] = mt.measure_sam2_activations(
            config.sam2_config, size, min(size, 256), config.sam2_overrides, config.sam2_drop_path, s.train_frames
        )
    sam2 = _SAM2_ACTIVATIONS[sam_key]
    work = mt.Workload(tokens=inputs.seq_len, patches=inputs.patches, sam2_frames=s.train_frames)
    work.sam2_objects["stage3"] = inputs.seg_count
    acts = mt.activation_bytes(counts, "stage3", work, sam2)
    parts = mt.gpu_memory(counts, "stage3", mt.load_presets(1)["gpu"], acts, master_weights=False)
    return dict({k: v / GIB for k, v in parts.items()}, params=counts.total, trainable=counts.trainable["stage3"])


def estimate_row(size: str, config, s: Settings, inputs: Inputs, reason: str) -> Row:
    """The row of a step that is not run: the memory it would need, from parameter counts."""
    est = memory_estimate(config, s, inputs)
    return Row(
        f"unipixel_{size}_step",
        f"UniPixel-{size.upper()} stage-3 step",
        time="not run",
        memory=f"needs ~{est['total']:.0f} GiB (estimate)",
        notes=f"{reason}; weights {est['weights']:.1f} + grads {est['grads']:.1f} + optimizer "
        f"{est['optimizer']:.1f} + activations {est['activations']:.1f} + overhead {est['overhead']:.1f} GiB "
        f"(benchmarks/memory_table.py; {est['params'] / 1e9:.2f} B params, {est['trainable'] / 1e6:.0f} M trainable)",
        data=dict(estimate_gib=est["total"], estimate=est, reason=reason),
    )


def add_estimate(row: Row, config, s: Settings, inputs: Inputs) -> Row:
    """Put the memory-table estimate of a measured step beside its measured peak."""
    est = memory_estimate(config, s, inputs)
    row.data["estimate_gib"], row.data["estimate"] = est["total"], est
    row.notes += f"; memory-table estimate {est['total']:.1f} GiB"
    return row


# ---------------------------------------------------------------------------------------------------------- run
def settings_from_args(args) -> Settings:
    device = pick_device(args.device)
    tiny = args.tiny
    real = not tiny
    return Settings(
        tiny=tiny,
        device=device,
        dtype=DTYPES["bf16" if device.type == "cuda" else "fp32"] if args.dtype == "auto" else DTYPES[args.dtype],
        train_frames=8 if real else 4,
        train_grid=32 if real else 12,
        text_before=20,
        text_after=60 if real else 20,
        answer_tokens=80 if real else 24,
        objects=3,
        infer_llm_frames=16 if real else 4,
        infer_grid=32 if real else 12,
        infer_sam_frames=64 if real else 8,
        decode_frames=16 if real else 4,
        track_frames=64 if real else 8,
        steps=args.steps if args.steps is not None else (5 if real else 1),
        warmup=args.warmup if args.warmup is not None else (2 if real else 1),
        grad_ckpt=not args.no_grad_ckpt,
        peak_tflops=device_peak_tflops(device, args.peak_tflops),
    )


def run(args) -> tuple[list[Row], dict]:
    from unipixel.train.run import attn_implementation

    s = settings_from_args(args)
    torch.manual_seed(0)
    if s.device.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    if s.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    attn = attn_implementation("auto") if s.device.type == "cuda" else "sdpa"
    stage = stage3_settings()
    generator = torch.Generator().manual_seed(0)
    config = unipixel_config("3b", s.tiny)
    answer = answer_ids(config, s.answer_tokens, s.objects, generator)
    inputs = video_inputs(
        config, s.train_frames, s.train_grid, s.text_before, s.text_after, answer, s.device, s.dtype, generator, True
    )
    size = config.sam2_image_size
    inputs.kwargs["sam2_frames"] = [sam2_frames(s.train_frames, size, s.device, generator)]
    inputs.kwargs["seg_masks"] = [box_masks(s.objects, s.train_frames, size, s.device)]
    meta = dict(
        device=torch.cuda.get_device_name(s.device) if s.device.type == "cuda" else "cpu",
        torch=torch.__version__,
        attn=attn,
        dtype=str(s.dtype),
        tiny=s.tiny,
        grad_ckpt=s.grad_ckpt,
        steps=s.steps,
        warmup=s.warmup,
        peak_tflops=s.peak_tflops,
        threads=torch.get_num_threads(),
    )
    import transformers

    meta["transformers"] = transformers.__version__
    rows: list[Row] = []
    started = time.perf_counter()

    stock = stock_step(config, s, attn, stage, inputs)
    rows.append(stock)
    print(f"[{time.perf_counter() - started:.0f}s] {stock.title}: {stock.time}", flush=True)

    model, optimizer, flops = unipixel_training(config, s, attn, stage, inputs)
    name = "tiny UniPixel" if s.tiny else "UniPixel-3B"
    ours = train_step_row("unipixel_step", f"{name} stage-3 step", model, optimizer, inputs, flops, s)
    ratio = ours.data["step_s"] / stock.data["step_s"]
    ours.versus = f"{ratio:.2f}x the stock step time"
    ours.data["ratio_to_stock"] = ratio
    ours.notes += f", {s.objects} objects x {s.train_frames} frames through SAM 2 @ {size} px"
    rows.append(add_estimate(ours, config, s, inputs))
    print(f"[{time.perf_counter() - started:.0f}s] {ours.title}: {ours.time}", flush=True)

    # inference on the same weights: drop the optimizer, merge LoRA as the export does
    del optimizer
    model.zero_grad(set_to_none=True)
    model = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    if s.grad_ckpt:
        model.gradient_checkpointing_disable()
    model.requires_grad_(False)
    free_memory(s.device)
    rows += sam2_rows(model.sam2, s, functools.partial(model._sam_context, s.device))
    print(f"[{time.perf_counter() - started:.0f}s] SAM 2 rows done", flush=True)
    rows += inference_rows(model, config, s, answer_tokens=32 if not s.tiny else 8)
    print(f"[{time.perf_counter() - started:.0f}s] inference rows done", flush=True)
    del model
    free_memory(s.device)

    rows.append(seven_b_row(s, attn, stage, inputs, args.skip_7b))
    print(f"[{time.perf_counter() - started:.0f}s] 7B row done", flush=True)
    meta["total_s"] = time.perf_counter() - started
    return rows, meta


def seven_b_row(s: Settings, attn: str, stage: dict, inputs: Inputs, skip: bool) -> Row:
    """Measure the 7B stage-3 step when it fits (the tiny run uses an untied tiny model); otherwise estimate."""
    config = unipixel_config("7b", s.tiny)
    generator = torch.Generator().manual_seed(0)
    answer = answer_ids(config, s.answer_tokens, s.objects, generator)
    inputs7 = video_inputs(
        config, s.train_frames, s.train_grid, s.text_before, s.text_after, answer, s.device, s.dtype, generator, True
    )
    inputs7.kwargs["sam2_frames"] = inputs.kwargs["sam2_frames"]
    inputs7.kwargs["seg_masks"] = inputs.kwargs["seg_masks"]
    if skip:
        return estimate_row("7b", config, s, inputs7, "skipped (--skip-7b)")
    if not s.tiny and s.device.type != "cuda":
        return estimate_row("7b", config, s, inputs7, "no GPU")
    if s.device.type == "cuda":
        need = memory_estimate(config, s, inputs7)["total"]
        free = torch.cuda.mem_get_info(s.device)[0] / GIB
        if need > 0.95 * free:
            return estimate_row("7b", config, s, inputs7, f"does not fit: {free:.0f} GiB free")
    try:
        model, optimizer, flops = unipixel_training(config, s, attn, stage, inputs7)
        name = "tiny UniPixel (untied, 7B-like)" if s.tiny else "UniPixel-7B"
        row = train_step_row("unipixel_7b_step", f"{name} stage-3 step", model, optimizer, inputs7, flops, s)
    except torch.OutOfMemoryError:
        model = optimizer = None
        free_memory(s.device)
        return estimate_row("7b", config, s, inputs7, "out of memory when run")
    del model, optimizer
    free_memory(s.device)
    return add_estimate(row, config, s, inputs7)


def render(rows: list[Row], meta: dict) -> str:
    lines = [
        f"device {meta['device']}, torch {meta['torch']}, transformers {meta['transformers']}, {meta['dtype']}, "
        f"attention {meta['attn']}, gradient checkpointing {'on' if meta['grad_ckpt'] else 'off'}, "
        f"{meta['steps']} timed steps after {meta['warmup']} warm-up"
        + (f", {meta['threads']} CPU threads" if meta["device"] == "cpu" else ""),
        "",
        "| row | measurement | time | rate | peak memory | MFU | vs. reference | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r.key, r.title, r.time, r.rate, r.memory, r.mfu, r.versus, r.notes]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += [
        "",
        "FLOPs: model FLOPs = 2 x N x tokens forward + 4 x N x tokens backward for every dense weight the step touches "
        "(trained or frozen, LoRA included) + attention 4 x q_len x k_len x width per layer forward (x3 with "
        "backward; LLM over the sequence, ViT per window / temporal group) + SAM 2 forward FLOPs counted by "
        "torch.utils.flop_counter x3. MFU = model FLOPs / step time / dense bf16 peak"
        + (f" ({meta['peak_tflops']:.0f} TFLOP/s)." if meta.get("peak_tflops") else " (unknown here: TFLOP/s shown)."),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> tuple[list[Row], dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random configs (CPU smoke run, seconds)")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cuda, cuda:1, cpu")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per training row (default 5; tiny 1)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2; tiny 1)")
    parser.add_argument("--dtype", default="auto", choices=["auto", *DTYPES], help="auto: bf16 on a GPU, fp32 on a CPU")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (CPU runs)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak for MFU (default by GPU name)")
    parser.add_argument("--no-grad-ckpt", action="store_true", help="train without gradient checkpointing")
    parser.add_argument("--skip-7b", action="store_true", help="only estimate the 7B row")
    args = parser.parse_args(argv)
    if args.tiny and args.device == "auto":
        args.device = "cpu"
    rows, meta = run(args)
    print()
    print(render(rows, meta))
    if args.json:
        payload = {"meta": meta, "rows": [{k: v for k, v in r.__dict__.items()} for r in rows]}
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str))
    return rows, meta


if __name__ == "__main__":
    main()
