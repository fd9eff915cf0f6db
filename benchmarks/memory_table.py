"""Training memory per GPU for UniPixel-3B / 7B, stages 1-3, under each GPU hardware preset, from parameter counts.

    python benchmarks/memory_table.py                      # markdown tables (about a minute on a CPU)
    python benchmarks/memory_table.py --world 8 --json memory.json

Two tables: the ZeRO presets (`gpu`, `zero2`, `zero2_offload`, `zero3`) on the release's workload over `--world`
GPUs, and the card presets (`gpu24gb`, `gpu48gb`, `gpu80gb`): each stage of each model with the settings the
composed training config gives it under that preset (its DeepSpeed JSON, frames per clip, objects with the mask
loss, gradient checkpointing, LoRA), on the number of GPUs the preset states (`card.gpus`), against its card's
memory less `CARD_MARGIN`.

Nothing here needs a GPU or weights. What is computed, and from what:

- Parameter counts: each model is built on PyTorch's meta device from `configs/model/unipixel_{3b,7b}.yaml` (SAM 2 is
  built for real on the CPU, 81 M parameters); a stage's trainable set is its `tuning_modules` (`configs/stage/*.yaml`)
  matched by name as `unipixel/train/modules.py` does, plus r x (in + out) per LoRA-targeted Linear.
- Bytes per parameter (mixed-precision AdamW as DeepSpeed runs it): weights 2 (bf16; 4 for the modules the model keeps
  in fp32: SAM 2, `ref_encoder`, `tem_pe`); gradients 2 per trainable parameter (4 if fp32); optimizer 12 per trainable
  parameter (fp32 master copy, Adam m and v). ZeRO-2 shards gradients and optimizer over the GPUs, ZeRO-3 the weights
  too (plus the largest module gathered twice: current and prefetched); offload moves the optimizer (and with
  `offload_param` the weights) to CPU memory.
- Activations, per-device batch 1, gradient checkpointing of the LLM and ViT (the GPU presets' setting), bf16:
  * workload: the largest regular training sample, a still image at the training budget (2048 visual tokens, 8192
    ViT patches) plus 200 text tokens = 2248 LLM tokens; SAM 2 on 8 frames at 768 px with 3 objects (stage 2) or 5
    (stage 3, `sample_objects`); stage 1 runs no SAM 2.
  * LLM: one checkpoint per layer (T x d x 2 bytes) + one layer recomputed in the backward pass
    (T x (14 d + 2 d_kv + 4 d_ff) x 2 bytes: norms, q/k/v/o inputs and outputs, LoRA-dropout copies, SwiGLU) + the
    logits (T x vocab x 10 bytes: bf16 logits, fp32 log-softmax kept for the loss, fp32 gradient).
  * ViT: the same two terms over the patches, only in stage 3 (LoRA; in stages 1-2 no gradient enters the ViT).
  * SAM 2 (not checkpointed): the bytes autograd saves for a train-time pass (`encode_frames` + `track`) are measured
    on the CPU under bf16 autocast at a smaller image size (`--sam2-measure-size`, default 256) with 2 frames and 1 or
    2 objects, parameters and their bf16 autocast copies left out, and scaled by the pixel ratio to 768 px (saved
    activations of convolutions, MLPs and windowed / memory-efficient attention grow linearly with pixels). Stage 3
    trains SAM 2, so its image encoder saves activations; in stage 2 SAM 2 is frozen and only the decoder / memory
    path on the way to `seg_head` does. The bf16 autocast copy of SAM 2's weights (2 bytes x its parameters) is
    added in stages 2-3.
- Fixed overheads: 1 GiB for the CUDA context, cuBLAS workspaces and allocator slack; with ZeRO, the communication
  buckets of `configs/deepspeed/*.json` (HF's "auto" reduce bucket = d^2 elements; `overlap_comm` keeps 4.5 of them;
  ZeRO-2's all-gather bucket is min(5e8, trainable/world) elements), 2 bytes per element.

These are estimates for planning; `benchmarks/gpu/bench_gpu.py` measures the peak of a real step on one GPU.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/memory_table.py` puts benchmarks/, not the repo root, on sys.path
    sys.path.insert(0, str(REPO))

from omegaconf import OmegaConf  # noqa: E402

GIB = 2**30
STAGES = ("stage1", "stage2", "stage3")
SIZES = ("3b", "7b")
CAPACITIES_GB = (24, 48, 80)
# Fastest first: plain DDP, then ZeRO-2, optimizer offload, ZeRO-3.
PRESET_ORDER = ("gpu", "zero2", "zero2_offload", "zero3")
# Presets sized for one card each (`card:` in their YAML); their stage-3 settings differ from the release's.
CARD_PRESETS = ("gpu24gb", "gpu48gb", "gpu80gb")
CARD_MARGIN = 0.10  # a card preset must be estimated at most (1 - margin) x the card's memory
FP32_MODULES = ("sam2", "ref_encoder", "tem_pe")
CONTEXT_OVERHEAD = 1 * GIB


# ---------------------------------------------------------------------------------------------------------- configs
@dataclass
class Preset:
    """A hardware preset of `configs/hardware/`, reduced to what decides memory."""

    name: str
    zero: int  # 0 = plain DDP
    offload_optimizer: bool
    offload_params: bool
    world: int  # GPUs the estimate assumes (a card preset: its `card.gpus`)
    allgather_bucket: float = 5e8
    card_gb: float | None = None  # the card a card preset is sized for


def deepspeed_preset(name: str, deepspeed: str | None, world: int, card_gb: float | None = None) -> Preset:
    """A `Preset` from a DeepSpeed JSON path (relative to the repository; None: plain DDP)."""
    zero, off_opt, off_par, bucket = 0, False, False, 5e8
    if deepspeed:
        ds = json.loads((REPO / deepspeed).read_text())["zero_optimization"]
        zero = int(ds["stage"])
        off_opt = ds.get("offload_optimizer", {}).get("device") == "cpu"
        off_par = ds.get("offload_param", {}).get("device") == "cpu"
        bucket = float(ds.get("allgather_bucket_size", 5e8))
    return Preset(name, zero, off_opt, off_par, world, bucket, card_gb)


def load_presets(world: int = 8) -> dict[str, Preset]:
    """Every GPU preset in `configs/hardware/` with its DeepSpeed JSON read (the CPU preset is skipped); a card
    preset is estimated on its `card.gpus` GPUs, the others on `world`."""
    presets = {}
    for path in sorted((REPO / "configs" / "hardware").glob("*.yaml")):
        cfg = OmegaConf.load(path)
        for parent in cfg.get("defaults") or []:
            if isinstance(parent, str) and parent != "_self_":
                cfg = OmegaConf.merge(OmegaConf.load(path.parent / f"{parent}.yaml"), cfg)
        if cfg.get("use_cpu"):
            continue
        card = cfg.get("card")
        presets[path.stem] = deepspeed_preset(
            path.stem,
            cfg.get("deepspeed"),
            int(card.gpus) if card else world,
            float(card.memory_gb) if card else None,
        )
    return presets


def load_stages() -> dict[str, dict]:
    """`{stage: {"tuning_modules": [...], "lora": {...} | None}}` from `configs/stage/`."""
    out = {}
    for name in STAGES:
        cfg = OmegaConf.load(REPO / "configs" / "stage" / f"{name}.yaml")
        lora = OmegaConf.to_container(cfg.lora) if cfg.get("lora") else None
        out[name] = {"tuning_modules": list(cfg.tuning_modules), "lora": lora}
    return out


def model_config(size: str):
    """The UniPixel config of `configs/model/unipixel_<size>.yaml` (no weights read)."""
    from hydra.utils import instantiate

    return instantiate(OmegaConf.load(REPO / "configs" / "model" / f"unipixel_{size}.yaml").config)


# ---------------------------------------------------------------------------------------------------------- counts
@dataclass
class ModelCounts:
    """Parameter counts of one model and what each stage trains."""

    name: str
    total: int
    fp32: int  # parameters the model keeps in fp32
    sam2: int
    largest_module: int  # parameters of the largest single weight (ZeRO-3 gathers it whole)
    trainable: dict[str, int] = field(default_factory=dict)
    trainable_fp32: dict[str, int] = field(default_factory=dict)
    lora: dict[str, int] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)


def lora_parameters(model: nn.Module, r: int, target: str) -> int:
    """Adapter parameters peft would add: r x (in + out) per Linear whose full name matches `target` (re.fullmatch)."""
    total = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and re.fullmatch(target, name):
            total += r * (module.in_features + module.out_features)
    return total


def count_parameters(config, stages: dict[str, dict], name: str = "") -> ModelCounts:
    """Counts of `PixelQwen2_5_VLForConditionalGeneration(config)` built on the meta device (SAM 2 on the CPU)."""
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.train.modules import LORA_TARGETS, group_prefixes, matches

    with torch.device("meta"):
        model = PixelQwen2_5_VLForConditionalGeneration(config)
    params = dict(model.named_parameters())
    fp32 = [n for n in params if matches(n, list(FP32_MODULES))]
    text, vision = config.text_config, config.vision_config
    counts = ModelCounts(
        name=name,
        total=sum(p.numel() for p in params.values()),
        fp32=sum(params[n].numel() for n in fp32),
        sam2=sum(p.numel() for n, p in params.items() if n.startswith("sam2.")),
        largest_module=max(p.numel() for p in params.values()),
        dims=dict(
            d=text.hidden_size,
            layers=text.num_hidden_layers,
            d_kv=text.num_key_value_heads * (text.hidden_size // text.num_attention_heads),
            d_ff=text.intermediate_size,
            vocab=text.vocab_size,
            vit_d=vision.hidden_size,
            vit_layers=vision.depth,
            vit_ff=vision.intermediate_size,
        ),
    )
    for stage, spec in stages.items():
        prefixes = group_prefixes(spec["tuning_modules"])
        chosen = [n for n in params if matches(n, prefixes)]
        lora = 0
        if "lora" in spec["tuning_modules"]:
            lora = lora_parameters(model, int(spec["lora"]["r"]), spec["lora"].get("target_modules") or LORA_TARGETS)
        counts.lora[stage] = lora
        counts.trainable[stage] = sum(params[n].numel() for n in chosen) + lora
        # peft keeps adapters in fp32 next to bf16 weights
        counts.trainable_fp32[stage] = sum(params[n].numel() for n in chosen if n in fp32) + lora
    return counts


# ---------------------------------------------------------------------------------------------------------- SAM 2
def saved_activation_bytes(fn, params: list[torch.Tensor]) -> int:
    """Bytes of the distinct storages autograd saves while `fn()` runs, parameters and their low-precision copies
    (autocast's cast cache) left out."""
    param_ptrs = {p.untyped_storage().data_ptr() for p in params}
    param_shapes = {tuple(p.shape) for p in params}
    saved: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        is_weight_copy = tuple(tensor.shape) in param_shapes and tensor.dtype != torch.float32
        if ptr not in param_ptrs and not is_weight_copy:
            saved[ptr] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return sum(saved.values())


@dataclass
class Sam2Activations:
    """Saved-activation bytes of SAM 2's train-time pass at `image_size`, per frame and per extra object-frame."""

    image_size: int
    measured_at: int
    trained_per_frame: float  # SAM 2 trained (stage 3): image encoder + decoder path, one object
    frozen_per_frame: float  # SAM 2 frozen (stage 2): decoder / memory path only, one object
    trained_per_object_frame: float
    frozen_per_object_frame: float

    def bytes(self, frames: int, objects: int, trained: bool) -> float:
        if trained:
            return frames * (self.trained_per_frame + (objects - 1) * self.trained_per_object_frame)
        return frames * (self.frozen_per_frame + (objects - 1) * self.frozen_per_object_frame)


def measure_sam2_activations(
    config_name: str,
    image_size: int,
    measure_size: int,
    overrides: list[str] | None = None,
    drop_path: float = 0.1,
    frames: int = 8,
) -> Sam2Activations:
    """Measure on the CPU (bf16 autocast) at `measure_size` and scale by `(image_size / measure_size)^2`.

    Per frame is the bytes of a `frames`-frame clip over `frames`; measure at the clip length being estimated: each
    frame but the last encodes a memory, and frame t attends to the memories of up to 6 earlier frames. The default
    (8) is `Workload.sam2_frames`, the clip length the table estimates by default."""
    from unipixel.model.sam2_adapter import build_sam2

    sam = build_sam2(config_name, measure_size, drop_path, overrides).train()
    params = list(sam.parameters())
    generator = torch.Generator().manual_seed(0)
    video = torch.randn(frames, 3, measure_size, measure_size, generator=generator)
    results = {}
    for trained in (True, False):
        for p in params:
            p.requires_grad_(trained)
        for objects in (1, 2):
            hidden = torch.randn(objects, 2, sam.sam_prompt_embed_dim, generator=generator).requires_grad_()

            def run(hidden=hidden):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    sam.track(sam.encode_frames(video), hidden)

            results[trained, objects] = saved_activation_bytes(run, params) / frames
    scale = (image_size / measure_size) ** 2
    return Sam2Activations(
        image_size=image_size,
        measured_at=measure_size,
        trained_per_frame=scale * results[True, 1],
        frozen_per_frame=scale * results[False, 1],
        trained_per_object_frame=scale * (results[True, 2] - results[True, 1]),
        frozen_per_object_frame=scale * (results[False, 2] - results[False, 1]),
    )


# ---------------------------------------------------------------------------------------------------------- memory
@dataclass
class Workload:
    """One micro-batch (per-device batch 1)."""

    tokens: int = 2248  # LLM sequence length
    patches: int = 8192  # ViT patches (4 per merged visual token)
    sam2_frames: int = 8
    sam2_objects: dict[str, int] = field(default_factory=lambda: {"stage1": 0, "stage2": 3, "stage3": 5})


def layer_working_set(tokens: int, d: int, d_kv: int, d_ff: int) -> float:
    """Bytes one transformer layer holds for its backward pass (bf16): `T x (14 d + 2 d_kv + 4 d_ff) x 2`."""
    return tokens * (14 * d + 2 * d_kv + 4 * d_ff) * 2


def activation_bytes(
    counts: ModelCounts, stage: str, work: Workload, sam2: Sam2Activations | None, checkpointing: bool = True
) -> dict[str, float]:
    """Activation terms of one stage (see the module docstring). Without gradient checkpointing every LLM (ViT)
    layer keeps its whole working set instead of one checkpoint per layer plus one layer recomputed."""

    def stack(layers: int, tokens: int, d: int, d_kv: int, d_ff: int) -> float:
        working = layer_working_set(tokens, d, d_kv, d_ff)
        return layers * tokens * d * 2 + working if checkpointing else layers * working

    dm = counts.dims
    t, p = work.tokens, work.patches
    out = {
        "llm": stack(dm["layers"], t, dm["d"], dm["d_kv"], dm["d_ff"]),
        "logits": t * dm["vocab"] * 10,
        "vit": 0.0,
        "sam2": 0.0,
    }
    if stage == "stage3":
        out["vit"] = stack(dm["vit_layers"], p, dm["vit_d"], dm["vit_d"], dm["vit_ff"])
    objects = work.sam2_objects.get(stage, 0)
    if objects and sam2 is not None:
        out["sam2"] = sam2.bytes(work.sam2_frames, objects, trained=stage == "stage3") + 2 * counts.sam2
    return out


def gpu_memory(
    counts: ModelCounts, stage: str, preset: Preset, activations: dict[str, float], master_weights: bool = True
) -> dict[str, float]:
    """Bytes per GPU: weights, gradients, optimizer, activations, overheads (ZeRO sharding over `preset.world`).

    `master_weights=False` is plain `torch.optim.AdamW` on the model's own parameters (what the GPU benchmark runs):
    Adam m and v in each parameter's dtype (2 x 2 bytes for bf16, 2 x 4 for fp32), no fp32 copy."""
    world = preset.world
    trainable, trainable_fp32 = counts.trainable[stage], counts.trainable_fp32[stage]
    weights = 2 * (counts.total - counts.fp32) + 4 * counts.fp32 + 4 * counts.lora.get(stage, 0)
    if preset.zero >= 3:
        # sharded, plus the largest module gathered twice (in use and prefetched); offloaded weights live on the CPU
        shard = 0.0 if preset.offload_params else weights / world
        weights = shard + 2 * 2 * counts.largest_module
    grads = 2 * (trainable - trainable_fp32) + 4 * trainable_fp32
    optimizer = 12 * trainable if master_weights else 4 * (trainable - trainable_fp32) + 8 * trainable_fp32
    if preset.zero >= 2:
        grads /= world
    if preset.zero >= 1:
        optimizer = 0.0 if preset.offload_optimizer else optimizer / world
    buffers = 0.0
    if preset.zero >= 1:
        d = counts.dims["d"]
        buffers = 4.5 * d * d * 2
        if preset.zero == 2:
            buffers += min(preset.allgather_bucket, trainable / world) * 2
    parts = {
        "weights": weights,
        "grads": grads,
        "optimizer": optimizer,
        "activations": sum(activations.values()),
        "overhead": CONTEXT_OVERHEAD + buffers,
    }
    parts["total"] = sum(parts.values())
    return parts


def fastest_fit(per_preset: dict[str, float], capacity_gb: float, order=PRESET_ORDER) -> str:
    """The first preset (fastest first) whose estimate fits `capacity_gb` (GB = 1e9 bytes, as GPUs are sold), or '-'."""
    for name in order:
        if name in per_preset and per_preset[name] <= capacity_gb * 1e9:
            return name
    return "-"


def build_table(
    sizes=SIZES, world: int = 8, work: Workload | None = None, sam2: Sam2Activations | None = None, counts=None
):
    """Rows of the table: one per (size, stage) with each preset's total and the fastest preset per capacity."""
    work = work or Workload()
    presets = {n: p for n, p in load_presets(world).items() if n in PRESET_ORDER}
    stages = load_stages()
    rows = []
    for size in sizes:
        model_counts = (
            counts[size] if counts else count_parameters(model_config(size), stages, f"UniPixel-{size.upper()}")
        )
        for stage in STAGES:
            acts = activation_bytes(model_counts, stage, work, sam2)
            per_preset = {name: gpu_memory(model_counts, stage, preset, acts) for name, preset in presets.items()}
            totals = {name: parts["total"] for name, parts in per_preset.items()}
            rows.append(
                dict(
                    model=model_counts.name,
                    stage=stage,
                    params=model_counts.total,
                    trainable=model_counts.trainable[stage],
                    activations=acts,
                    presets=per_preset,
                    fits={cap: fastest_fit(totals, cap) for cap in CAPACITIES_GB},
                )
            )
    return rows, presets


def render(rows: list[dict], presets: dict[str, Preset]) -> str:
    names = [n for n in PRESET_ORDER if n in presets]
    head = "| model | stage | params | trainable | " + " | ".join(f"{n} (GiB)" for n in names)
    head += " | " + " | ".join(f"fits {c} GB" for c in CAPACITIES_GB) + " |"
    lines = [head, "|" + "---|" * (4 + len(names) + len(CAPACITIES_GB))]
    for r in rows:
        cells = [r["model"], r["stage"], f"{r['params'] / 1e9:.2f} B", f"{r['trainable'] / 1e6:.1f} M"]
        cells += [f"{r['presets'][n]['total'] / GIB:.1f}" for n in names]
        cells += [r["fits"][c] for c in CAPACITIES_GB]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Breakdown under zero2 (GiB): weights / grads / optimizer / activations (LLM, logits, ViT, SAM 2) / overhead"
    )
    lines.append("")
    lines.append("| model | stage | weights | grads | optimizer | LLM | logits | ViT | SAM 2 | overhead | total |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        z, a = r["presets"]["zero2"], r["activations"]
        vals = [z["weights"], z["grads"], z["optimizer"], a["llm"], a["logits"], a["vit"], a["sam2"], z["overhead"]]
        vals.append(z["total"])
        lines.append(f"| {r['model']} | {r['stage']} | " + " | ".join(f"{v / GIB:.1f}" for v in vals) + " |")
    world = {p.world for p in presets.values()}
    lines.append("")
    lines.append(f"World size {sorted(world)} GPUs. GiB = 2^30 bytes; capacities in GB = 1e9 bytes.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------- cards
def compose_training(size: str, hardware: str, overrides: list[str] | tuple = ()):
    """The training config `python -m unipixel.train experiment=unipixel_<size> hardware=<hardware> ...` composes."""
    from hydra import compose, initialize_config_dir

    import unipixel.model  # noqa: F401  (imports sam2 first: its Hydra state must not leak into ours)

    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose(
            config_name="train", overrides=[f"experiment=unipixel_{size}", f"hardware={hardware}", *overrides]
        )


@dataclass
class StagePlan:
    """What one stage of a composed training config runs, reduced to what decides memory."""

    preset: Preset  # ZeRO stage and offload of the stage's DeepSpeed JSON, on the preset's GPUs
    deepspeed: str | None
    frames: int  # frames per video clip (`data.common.sample_frames`)
    objects: int  # objects SAM 2 tracks with the mask loss (`sample_objects`, or the workload's count when unset)
    checkpointing: bool
    tuning_modules: list[str]
    lora: dict | None


def stage_plan(cfg, stage: str, work: Workload) -> StagePlan:
    """The `StagePlan` of `stage` in a composed config (`compose_training`), resolved as training resolves it."""
    node = OmegaConf.to_container(cfg.stages[stage], resolve=True)
    hardware = OmegaConf.to_container(cfg.hardware, resolve=True)
    card = hardware.get("card") or {}
    deepspeed = node.get("deepspeed") or hardware.get("deepspeed")  # as unipixel.train.run.build_stage picks it
    limit = (node.get("model_overrides") or {}).get("sample_objects")
    objects = work.sam2_objects.get(stage, 0)
    if objects and limit is not None and limit > 0:
        objects = int(limit)
    return StagePlan(
        preset=deepspeed_preset(hardware.get("name", "?"), deepspeed, int(card.get("gpus", 1)), card.get("memory_gb")),
        deepspeed=deepspeed,
        frames=int((node["data"].get("common") or {}).get("sample_frames", work.sam2_frames)),
        objects=objects,
        checkpointing=bool(hardware.get("gradient_checkpointing")),
        tuning_modules=list(node["tuning_modules"]),
        lora=node.get("lora"),
    )


def card_table(
    sizes=SIZES,
    presets=CARD_PRESETS,
    work: Workload | None = None,
    sam2_at=None,
    overrides: list[str] | tuple = (),
    counts: dict | None = None,
) -> list[dict]:
    """One row per (model, card preset, stage): the estimate of what the composed config runs, against the card.

    `sam2_at(frames)` gives the `Sam2Activations` measured on a clip of that many frames; `counts[size]` may hold
    precomputed `ModelCounts` (they must match the composed stages' `tuning_modules` and LoRA)."""
    work = work or Workload()
    rows = []
    for size in sizes:
        for name in presets:
            cfg = compose_training(size, name, overrides)
            card = cfg.hardware.get("card")
            if card is None:
                raise ValueError(f"configs/hardware/{name}.yaml has no `card:` (memory_gb, gpus) to check against")
            plans = {stage: stage_plan(cfg, stage, work) for stage in STAGES}
            for plan in plans.values():
                plan.preset.name = name
            if counts and size in counts:
                model_counts = counts[size]
            else:
                specs = {s: {"tuning_modules": p.tuning_modules, "lora": p.lora} for s, p in plans.items()}
                model_counts = count_parameters(model_config(size), specs, f"UniPixel-{size.upper()}")
            for stage, plan in plans.items():
                stage_work = Workload(work.tokens, work.patches, plan.frames, {stage: plan.objects})
                sam2 = sam2_at(plan.frames) if plan.objects else None
                acts = activation_bytes(model_counts, stage, stage_work, sam2, plan.checkpointing)
                parts = gpu_memory(model_counts, stage, plan.preset, acts)
                limit = (1 - CARD_MARGIN) * float(card.memory_gb) * 1e9
                rows.append(
                    dict(
                        model=model_counts.name,
                        stage=stage,
                        preset=name,
                        card_gb=float(card.memory_gb),
                        gpus=int(card.gpus),
                        deepspeed=plan.deepspeed,
                        zero=plan.preset.zero,
                        offload_optimizer=plan.preset.offload_optimizer,
                        offload_params=plan.preset.offload_params,
                        frames=plan.frames if plan.objects else None,
                        objects=plan.objects,
                        checkpointing=plan.checkpointing,
                        trainable=model_counts.trainable[stage],
                        activations=acts,
                        parts=parts,
                        total=parts["total"],
                        limit=limit,
                        fits=parts["total"] <= limit,
                    )
                )
    return rows


def render_cards(rows: list[dict]) -> str:
    def zero(r):
        if not r["zero"]:
            return "DDP"
        offload = (
            " + param. & opt. offload" if r["offload_params"] else " + opt. offload" if r["offload_optimizer"] else ""
        )
        return f"ZeRO-{r['zero']}{offload}"

    lines = [
        f"Card presets: each stage as the composed config runs it, per GPU, against the card less {CARD_MARGIN:.0%}",
        "",
        "| model | preset | stage | GPUs | DeepSpeed | frames | objects | grad. ckpt | estimate (GiB) | estimate (GB) "
        "| limit (GB) | fits |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            r["model"],
            r["preset"],
            r["stage"],
            f"{r['gpus']} x {r['card_gb']:.0f} GB",
            zero(r),
            "-" if r["frames"] is None else str(r["frames"]),
            str(r["objects"]) if r["objects"] else "-",
            "on" if r["checkpointing"] else "off",
            f"{r['total'] / GIB:.1f}",
            f"{r['total'] / 1e9:.1f}",
            f"{r['limit'] / 1e9:.1f}",
            "yes" if r["fits"] else "NO",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, list[dict]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=SIZES)
    parser.add_argument("--world", type=int, default=8, help="GPUs the ZeRO presets shard over")
    parser.add_argument("--tokens", type=int, default=Workload.tokens)
    parser.add_argument("--patches", type=int, default=Workload.patches)
    parser.add_argument("--sam2-frames", type=int, default=Workload.sam2_frames)
    parser.add_argument("--sam2-measure-size", type=int, default=256, help="image size SAM 2 is measured at (CPU)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cards", nargs="*", default=list(CARD_PRESETS), help="card presets to check (none: skip)")
    parser.add_argument(
        "--override", action="append", default=[], help="a Hydra override for the card presets' composed configs"
    )
    parser.add_argument("--json", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = model_config(args.sizes[0])
    measured: dict[int, Sam2Activations] = {}

    def sam2_at(frames: int) -> Sam2Activations:
        if frames not in measured:  # a clip of the length being estimated (see measure_sam2_activations)
            torch.manual_seed(0)
            measured[frames] = measure_sam2_activations(
                config.sam2_config,
                config.sam2_image_size,
                args.sam2_measure_size,
                config.sam2_overrides,
                config.sam2_drop_path,
                frames=frames,
            )
        return measured[frames]

    sam2 = sam2_at(args.sam2_frames)
    work = Workload(tokens=args.tokens, patches=args.patches, sam2_frames=args.sam2_frames)
    rows, presets = build_table(args.sizes, args.world, work, sam2)
    print(
        f"SAM 2 saved activations at {sam2.image_size} px (measured at {sam2.measured_at} px, scaled): "
        f"{sam2.trained_per_frame / GIB:.2f} GiB per frame trained, {sam2.frozen_per_frame / GIB:.3f} frozen; "
        f"+{sam2.trained_per_object_frame / GIB:.3f} / +{sam2.frozen_per_object_frame / GIB:.3f} GiB per extra "
        "object-frame"
    )
    print(
        f"Workload: {work.tokens} LLM tokens, {work.patches} ViT patches, SAM 2 {work.sam2_frames} frames, "
        f"objects per stage {work.sam2_objects}\n"
    )
    print(render(rows, presets))
    cards = card_table(args.sizes, args.cards, work, sam2_at, args.override) if args.cards else []
    if cards:
        print()
        print(render_cards(cards))
        for frames, m in sorted(measured.items()):
            print(
                f"SAM 2 measured on a {frames}-frame clip: {m.trained_per_frame / GIB:.2f} GiB per frame trained, "
                f"{m.frozen_per_frame / GIB:.3f} frozen; +{m.trained_per_object_frame / GIB:.3f} / "
                f"+{m.frozen_per_object_frame / GIB:.3f} GiB per extra object-frame"
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "rows": rows,
                    "cards": cards,
                    "sam2": {frames: asdict(m) for frames, m in measured.items()},
                    "workload": asdict(work),
                },
                indent=2,
                default=str,
            )
        )
    return {"rows": rows, "cards": cards}


if __name__ == "__main__":
    main()
