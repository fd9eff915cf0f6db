"""Partial checkpoints between stages, and the final full export.

Stages 1 and 2 train a few modules; they save those modules' tensors *and* the buffers they depend on (the random
Fourier matrices of `tem_pe` / `ref_encoder`, which the original did not save, B2) to `partial_model.safetensors`,
with a manifest naming the module groups. Stage 3 loads every partial checkpoint strictly: each tensor must exist in
the model with the same shape, and every tensor of the declared groups must be in the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

from unipixel.utils.files import atomic_path, atomic_write_json, read_json_file, safetensors_problem

from .modules import buffer_prefixes, group_prefixes, matches, strip_peft

logger = logging.getLogger(__name__)

PARTIAL_WEIGHTS = "partial_model.safetensors"
PARTIAL_MANIFEST = "partial_model.json"


def unwrap(model: nn.Module) -> nn.Module:
    """The plain UniPixel model under DDP / DeepSpeed / peft wrappers."""
    from peft import PeftModel

    while hasattr(model, "module"):
        model = model.module
    return model.get_base_model() if isinstance(model, PeftModel) else model


def partial_state(model: nn.Module, groups: list[str], state_dict: dict | None = None) -> dict[str, torch.Tensor]:
    """Tensors of the given module groups plus their buffers, in plain (peft-free) names.

    `state_dict`: take the values from this mapping (names as the model's own, or with the `module.` prefixes of a
    DDP / DeepSpeed wrapper) instead of the model; e.g. the state dict the HF Trainer gathers from the ranks under
    DeepSpeed ZeRO-3, where the model's own tensors are empty partitions. Every tensor of the groups must be in it.
    """
    prefixes = group_prefixes(groups) + buffer_prefixes(groups)
    wanted = {}
    for name in model.state_dict():
        plain = strip_peft(name)
        if "lora_" not in name and matches(plain, prefixes):
            wanted[name] = plain
    if state_dict is None:
        source = model.state_dict()
    else:
        source = {}
        for key, value in state_dict.items():
            while key.startswith("module."):
                key = key[len("module.") :]
            source[key] = value
        missing = sorted(plain for name, plain in wanted.items() if name not in source)
        if missing:
            raise RuntimeError(
                f"the gathered state dict lacks {len(missing)} tensors of module groups {groups}, e.g. {missing[:5]}"
            )
    return {plain: source[name].detach().contiguous().cpu() for name, plain in wanted.items()}


def save_partial(
    model: nn.Module,
    output_dir: str | Path,
    groups: list[str],
    extra: dict | None = None,
    state_dict: dict | None = None,
) -> Path:
    """Write `partial_model.safetensors` + `partial_model.json` (groups, keys, shapes) to `output_dir`; values from
    `state_dict` when given (see `partial_state`)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    state = partial_state(model, groups, state_dict)
    if not state:
        raise ValueError(f"module groups {groups} hold no tensors")
    # tied tensors (e.g. embed_tokens / lm_head) share storage; safetensors wants one owner per storage
    seen, unique = {}, {}
    for key, tensor in state.items():
        ptr = tensor.data_ptr()
        if ptr in seen:
            continue
        seen[ptr] = key
        unique[key] = tensor
    with atomic_path(output_dir / PARTIAL_WEIGHTS) as tmp:  # a kill leaves the old file or the new one
        save_file(unique, str(tmp), metadata={"format": "pt"})
    manifest = {
        "groups": list(groups),
        "keys": {k: list(v.shape) for k, v in unique.items()},
        "tied": {k: seen[v.data_ptr()] for k, v in state.items() if k not in unique},
        **(extra or {}),
    }
    atomic_write_json(output_dir / PARTIAL_MANIFEST, manifest, indent=2)
    return output_dir / PARTIAL_WEIGHTS


def load_partial(model: nn.Module, checkpoint_dir: str | Path) -> list[str]:
    """Load a partial checkpoint strictly by name; returns the loaded keys.

    Raises `RuntimeError` naming the keys when the file lacks a tensor of a declared group, holds a tensor the model
    does not have, or a shape differs.
    """
    checkpoint_dir = Path(checkpoint_dir)
    weights, manifest_path = checkpoint_dir / PARTIAL_WEIGHTS, checkpoint_dir / PARTIAL_MANIFEST
    if not weights.is_file() or not manifest_path.is_file():
        raise FileNotFoundError(
            f"{checkpoint_dir} is not a partial checkpoint (needs {PARTIAL_WEIGHTS} and {PARTIAL_MANIFEST})"
        )
    problem = safetensors_problem(weights)
    if problem is not None:
        raise RuntimeError(f"partial checkpoint {checkpoint_dir}: {problem}")
    manifest = read_json_file(manifest_path, "partial checkpoint manifest")
    state = load_file(str(weights))
    for alias, owner in manifest.get("tied", {}).items():
        if owner in state:
            state[alias] = state[owner]
    target = unwrap(model)
    own = target.state_dict()
    expected = set(partial_state(target, manifest["groups"]))
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(state) & set(own) if tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or mismatched:
        raise RuntimeError(
            f"partial checkpoint {checkpoint_dir} does not match the model: missing {missing[:20]}, "
            f"unexpected {unexpected[:20]}, shape mismatch {mismatched[:20]}"
        )
    with torch.no_grad():
        for key, value in state.items():
            own[key].copy_(value.to(own[key].dtype))
    logger.info("loaded %d tensors (%s) from %s", len(state), ", ".join(manifest["groups"]), checkpoint_dir)
    return sorted(state)
