"""Which parameters each training stage trains: module groups, LoRA through peft, optimiser parameter groups.

Stage 1 trains `ref`; stage 2 `seg`; stage 3 LoRA on every LLM/ViT attention projection plus `embedding`, `ref`,
`ref_enc`, `msk`, `seg` and `sam2` (docs/design.md §3). Everything else stays frozen.
"""

from __future__ import annotations

import logging

import torch.nn as nn

logger = logging.getLogger(__name__)

# Module groups of the `tuning_modules` option, as module-name prefixes of the (unwrapped) model.
MODULE_GROUPS: dict[str, tuple[str, ...]] = {
    "ref": ("ref_proj_single", "ref_proj_double", "ref_proj", "tem_emb", "tem_proj"),
    "ref_enc": ("ref_encoder",),
    "msk": ("msk_proj",),
    "seg": ("seg_head",),
    "sam2": ("sam2",),
    "embedding": ("model.language_model.embed_tokens", "lm_head"),
    "projector": ("model.visual.merger",),
    "llm": ("model.language_model", "lm_head"),
    "vision": ("model.visual",),
}
# Buffers a group's trained weights are only meaningful with; saved beside them in partial checkpoints (B2).
GROUP_BUFFERS: dict[str, tuple[str, ...]] = {
    "ref": ("tem_pe", "ref_encoder.pe_layer"),
    "ref_enc": ("ref_encoder.pe_layer",),
    "sam2": ("sam2.sam_prompt_encoder.pe_layer",),
}
# LoRA targets of the release (`lora_type qkvo_all`): LLM q/k/v/o and ViT qkv/proj, SAM 2 excluded.
LORA_TARGETS = (
    r"model\.language_model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)"
    r"|model\.visual\.blocks\.\d+\.attn\.(qkv|proj)"
)


def group_prefixes(groups: list[str]) -> list[str]:
    unknown = [g for g in groups if g not in MODULE_GROUPS and g != "lora"]
    if unknown:
        raise ValueError(f"unknown tuning modules {unknown}; choose from {sorted(MODULE_GROUPS)} or 'lora'")
    return [p for g in groups if g != "lora" for p in MODULE_GROUPS[g]]


def buffer_prefixes(groups: list[str]) -> list[str]:
    return [p for g in groups for p in GROUP_BUFFERS.get(g, ())]


def matches(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def strip_peft(name: str) -> str:
    """Parameter name in the plain model (`base_model.model.` and LoRA `.base_layer` removed)."""
    name = name.removeprefix("base_model.model.")
    return name.replace(".base_layer.", ".")


def configure_trainable(model: nn.Module, tuning_modules: list[str], lora: dict | None = None) -> nn.Module:
    """Freeze everything, optionally wrap with LoRA, then unfreeze the selected module groups.

    Args:
        tuning_modules: group names of `MODULE_GROUPS`, plus `"lora"` to train the LoRA adapters.
        lora: `{"r", "alpha", "dropout", "target_modules"}`; required when `"lora"` is selected.

    Returns:
        the model to train (a peft `PeftModel` when LoRA is used).
    """
    prefixes = group_prefixes(list(tuning_modules))
    for param in model.parameters():
        param.requires_grad_(False)
    if "lora" in tuning_modules:
        if not lora:
            raise ValueError("tuning module 'lora' needs a `lora` config (r, alpha, dropout)")
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=int(lora["r"]),
            lora_alpha=int(lora["alpha"]),
            lora_dropout=float(lora.get("dropout", 0.0)),
            bias="none",
            target_modules=lora.get("target_modules") or LORA_TARGETS,
        )
        model = get_peft_model(model, config)
    for name, param in model.named_parameters():
        plain = strip_peft(name)
        if "lora_" in name or matches(plain, prefixes):
            param.requires_grad_(True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info(
        "trainable parameters: %d / %d (%.3f%%) in %s", trainable, total, 100 * trainable / total, tuning_modules
    )
    if trainable == 0:
        raise ValueError(f"tuning modules {tuning_modules} select no parameter of this model")
    return model


def parameter_groups(model: nn.Module, learning_rate: float, sam2_learning_rate: float | None, weight_decay: float):
    """Optimiser groups: SAM 2 at its own learning rate (5e-6 in stage 3), everything else at the base rate."""
    sam2, rest = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (sam2 if strip_peft(name).startswith("sam2.") and sam2_learning_rate is not None else rest).append(param)
    groups = [{"params": rest, "lr": learning_rate, "weight_decay": weight_decay}]
    if sam2:
        groups.append({"params": sam2, "lr": sam2_learning_rate, "weight_decay": weight_decay})
    return [g for g in groups if g["params"]]
