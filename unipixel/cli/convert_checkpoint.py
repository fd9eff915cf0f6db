"""Checkpoint conversions: export a training output as a full model, move SAM 2.1 weights between the official and
the UniPixel layout, and check a released checkpoint folder.

    # a stage's output folder (or one of its checkpoint-N folders) → a full HF model, LoRA merged, with the pixel
    # budget it trained with (unipixel_processor.json); the run folder may have moved since training
    python tools/convert_checkpoint.py export work_dirs/unipixel_3b/stage3 model_zoo/my-unipixel-3b
    # the official SAM 2.1 .pt → UniPixel's on-disk names (`sam2.` prefix, CXBlock `gamma` spelled `weight`)
    python tools/convert_checkpoint.py sam2 model_zoo/sam2.1/sam2.1_hiera_base_plus.pt sam2_unipixel.safetensors
    # ... and back: the SAM 2 of a UniPixel checkpoint as an official-format .pt (usable with sam2's builders)
    python tools/convert_checkpoint.py sam2 model_zoo/UniPixel-3B unipixel3b_sam2.pt
    # is this folder an unchanged UniPixel-3B / 7B release? (the index JSON alone is enough for a first check)
    python tools/convert_checkpoint.py fingerprint model_zoo/UniPixel-3B

A released UniPixel-3B/7B folder needs no conversion: `Predictor.from_pretrained` loads it as it is.
Installed as the console script `unipixel-convert` (same arguments); `tools/convert_checkpoint.py` runs this module.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

SAM2_PREFIX = "sam2."


# ------------------------------------------------------------------------------------------------ export
def find_training_output(path: str | Path, checkpoint: str | None = None) -> tuple[Path, Path]:
    """`(stage folder holding config.yaml, folder holding the partial weights)` for a stage output or checkpoint."""
    path = Path(path)
    if (path / "config.yaml").is_file():
        stage_dir = path
        if checkpoint is not None:
            weights = stage_dir / checkpoint
        elif (path / "partial_model.safetensors").is_file():
            weights = path
        else:
            found = sorted(path.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
            if not found:
                raise FileNotFoundError(f"{path} holds neither partial_model.safetensors nor checkpoint-* folders")
            weights = found[-1]
    elif (path.parent / "config.yaml").is_file():
        stage_dir, weights = path.parent, path
    else:
        raise FileNotFoundError(f"{path} is not a training output: no config.yaml in it or its parent folder")
    if not (weights / "partial_model.safetensors").is_file():
        raise FileNotFoundError(f"{weights} has no partial_model.safetensors")
    return stage_dir, weights


def load_lora(model, folder: Path) -> None:
    """Load `adapter_model.safetensors` into the peft model strictly: exactly the model's LoRA tensors."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from safetensors.torch import load_file

    from unipixel.train.trainer import unwrap_peft

    path = folder / "adapter_model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{folder} lacks the LoRA weights {path.name} its stage trained")
    peft_model = unwrap_peft(model)
    state = load_file(str(path))
    expected = set(get_peft_model_state_dict(peft_model))
    if set(state) != expected:
        raise RuntimeError(
            f"{path}: LoRA tensors differ from the model's: missing {sorted(expected - set(state))[:10]}, "
            f"unexpected {sorted(set(state) - expected)[:10]}"
        )
    set_peft_model_state_dict(peft_model, state)


def locate_partial(path: str, cfg, stage_dir: Path) -> Path:
    """An earlier stage's partial checkpoint named in a stage config: where it was, or, when the run folder has moved
    since training, at the same place relative to the stage folder's parent (the run's `output_dir`)."""
    recorded = Path(path)
    if (recorded / "partial_model.safetensors").is_file():
        return recorded
    tried = [recorded]
    output_dir = Path(str(cfg.get("output_dir") or ""))
    try:
        moved = stage_dir.parent / recorded.relative_to(output_dir)
    except ValueError:
        moved = stage_dir.parent / recorded.name
    tried.append(moved)
    if (moved / "partial_model.safetensors").is_file():
        return moved
    raise FileNotFoundError(
        f"{stage_dir}/config.yaml loads the partial checkpoint {path}, found neither at "
        f"{' nor at '.join(map(str, tried))}"
    )


def export(path: str | Path, out_dir: str | Path, checkpoint: str | None = None):
    """Rebuild a stage's model from its `config.yaml` (base weights, earlier stages' partial checkpoints, LoRA
    wrapping), load the stage's saved weights and LoRA adapters, then save a full model with LoRA merged, tokenizer
    and pixel budget (`unipixel_processor.json`) included, the way the trainer exports at the end of a stage. Works
    from any working directory and from a moved run folder. Returns the merged model."""
    from omegaconf import OmegaConf

    from unipixel.train.checkpoint import load_partial
    from unipixel.train.modules import configure_trainable
    from unipixel.train.run import as_dict, build_model, build_tokenizer, write_processor_settings
    from unipixel.train.trainer import save_full_model, unwrap_peft

    stage_dir, weights = find_training_output(path, checkpoint)
    cfg = OmegaConf.load(stage_dir / "config.yaml")
    if stage_dir.name not in (cfg.get("stages") or {}):
        raise ValueError(f"{stage_dir}/config.yaml defines no stage named {stage_dir.name!r}")
    stage = cfg.stages[stage_dir.name]
    partials = [locate_partial(str(p), cfg, stage_dir) for p in stage.get("partial_checkpoints") or []]
    tokenizer = build_tokenizer(cfg.model)
    model = build_model(cfg.model, tokenizer, stage, cfg.hardware, int(cfg.seed))
    for partial in partials:
        load_partial(model, partial)
    model = configure_trainable(model, list(stage.tuning_modules), as_dict(stage.get("lora")) or None)
    load_partial(model, weights)
    if unwrap_peft(model) is not None:
        load_lora(model, weights)
    partial = ",".join(map(str, stage.get("partial_checkpoints") or [])) or None
    model.eval()
    save_full_model(model, str(out_dir), tokenizer, {"partial_checkpoint": partial})
    write_processor_settings(stage, out_dir)
    return model


# ------------------------------------------------------------------------------------------------ SAM 2
def official_to_released(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official SAM 2.1 names → UniPixel's on-disk names: `sam2.` prefix, `fuser.layers.N.gamma` → `.weight` (the
    inverse of `unipixel.model.sam2_adapter.rename_sam2_state_dict`)."""
    from unipixel.model.released import released_name

    return {SAM2_PREFIX + released_name(key): value for key, value in state.items()}


def released_to_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The `sam2.*` tensors of a UniPixel state dict (either key spelling) → official SAM 2.1 names."""
    from unipixel.model.sam2_adapter import rename_sam2_state_dict

    picked = {k[len(SAM2_PREFIX) :]: v for k, v in state.items() if k.startswith(SAM2_PREFIX)}
    if not picked:
        raise ValueError("no sam2.* tensors found")
    return rename_sam2_state_dict(picked)


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a `.pt` (`{"model": ...}` or a plain state dict), a `.safetensors` file or a checkpoint folder."""
    from safetensors.torch import load_file

    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise FileNotFoundError(f"{path} holds no .safetensors files")
        state = {}
        for file in files:
            state.update(load_file(str(file)))
        return state
    if path.suffix == ".safetensors":
        return load_file(str(path))
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    state = loaded.get("model", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a SAM 2 checkpoint ({{'model': state_dict}}) or a state dict")
    return state


def convert_sam2(source: str | Path, target: str | Path, dtype: str | None = None) -> dict[str, torch.Tensor]:
    """`.pt` (official) → `.safetensors` (UniPixel names), or UniPixel folder / `.safetensors` → official `.pt`.

    The direction follows the source: an official checkpoint has no `sam2.` prefix. Checks the result against the
    released layout when it is SAM 2.1 Hiera-B+ (615 tensors, same shapes). Returns the written tensors."""
    from safetensors.torch import save_file

    from unipixel.model.released import load_layout

    source, target = Path(source), Path(target)
    state = read_state(source)
    to_released = not any(k.startswith(SAM2_PREFIX) for k in state)
    out = official_to_released(state) if to_released else released_to_official(state)
    if dtype is not None:
        out = {k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v for k, v in out.items()}
    released = official_to_released(out) if not to_released else out
    expected = {k: v for k, v in load_layout("UniPixel-3B")["keys"].items() if k.startswith(SAM2_PREFIX)}
    if len(released) == len(expected):  # a B+ checkpoint: must match the release exactly
        wrong = sorted(k for k in expected if k not in released or tuple(released[k].shape) != expected[k])
        if wrong or set(released) != set(expected):
            raise ValueError(f"{source}: SAM 2.1 B+ tensors differ from the released layout: {wrong[:10]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if to_released:
        save_file({k: v.contiguous() for k, v in out.items()}, str(target), metadata={"format": "pt"})
    else:
        torch.save({"model": out}, target)
    return out


# ------------------------------------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", help="training output (partial weights + LoRA) → full model, LoRA merged")
    p.add_argument("training_output", help="a stage output folder (with config.yaml) or one of its checkpoint-N")
    p.add_argument("out", help="folder for the full model")
    p.add_argument("--checkpoint", default=None, help="checkpoint-N inside the stage folder (default: the latest)")
    p = sub.add_parser("sam2", help="SAM 2.1 .pt ↔ UniPixel layout")
    p.add_argument("source", help="official .pt, or a UniPixel checkpoint folder / .safetensors")
    p.add_argument("target", help=".safetensors (from an official .pt) or .pt (from UniPixel)")
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    p = sub.add_parser("fingerprint", help="check a released UniPixel-3B/7B folder")
    p.add_argument("folder")
    p.add_argument("--model", default=None, choices=["UniPixel-3B", "UniPixel-7B"], help="default: by total_size")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    if args.command == "export":
        export(args.training_output, args.out, args.checkpoint)
        print(f"saved the full model to {args.out}")
        return 0
    if args.command == "sam2":
        out = convert_sam2(args.source, args.target, args.dtype)
        print(f"wrote {len(out)} tensors to {args.target}")
        return 0
    from dataclasses import asdict

    from unipixel.model.released import fingerprint

    result = fingerprint(args.folder, args.model)
    print(json.dumps({**asdict(result), "ok": result.ok}, indent=2) if args.json else result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
