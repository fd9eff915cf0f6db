"""What a restarted stage picks up: the newest *complete* checkpoint, and whether the stage has already finished.

A kill can land anywhere in a checkpoint save (transformers writes the weights, the optimizer, the scheduler, the RNG
states and `trainer_state.json` one after the other), so a `checkpoint-*` folder is used only when every file a resume
reads is present and whole: JSON parses, safetensors headers match the file size, torch archives keep their zip
directory. Incomplete folders are skipped with a warning naming the file at fault, and the previous complete one is
used instead.

A stage that ran to its end and exported writes `stage_done.json` last (atomically), with the settings it trained
with. Running the stage again is then a no-op that says so; `force=true` trains it again from scratch (the old
checkpoints are moved aside, not deleted). When the export was cut short, the newest checkpoint already sits at the
final step: the weights are loaded from it and exported again, without training a step past the limit.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

from unipixel.utils.files import atomic_write_json, json_problem, safetensors_problem, torch_file_problem

logger = logging.getLogger(__name__)

STAGE_DONE = "stage_done.json"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
# train settings that change how a run is watched, not what it trains
_UNTRAINED_KEYS = ("report_to", "logging_steps", "disable_tqdm", "dataloader_num_workers", "save_total_limit")


# ------------------------------------------------------------------------------------------------ checkpoints
def checkpoint_problems(folder: str | Path, lora: bool = False) -> list[str]:
    """Why `folder` cannot be resumed from (empty when it is complete).

    Needs `trainer_state.json`, `training_args.bin`, the weights (`partial_model.safetensors` + `partial_model.json`,
    or a full `model*.safetensors`), `adapter_model.safetensors` when the model has LoRA, and, unless only the model
    was saved, the optimizer (`optimizer.pt`, or DeepSpeed's `latest` + `global_step*/`), `scheduler.pt` and an
    `rng_state*.pth`. Every file present is checked for wholeness, not just the required ones.
    """
    folder = Path(folder)
    problems = []
    if not (folder / "trainer_state.json").is_file():
        problems.append("trainer_state.json is missing (the save did not finish)")
    weights = [folder / "partial_model.safetensors", folder / "partial_model.json"]
    if not weights[0].exists() and any(folder.glob("model*.safetensors")):
        weights = sorted(folder.glob("model*.safetensors"))
    required = [folder / "training_args.bin", *weights]
    if lora:
        required.append(folder / "adapter_model.safetensors")
    only_model = _saved_only_model(folder)
    if not only_model:
        required.append(folder / "scheduler.pt")
        if (folder / "latest").is_file():
            tag = (folder / "latest").read_text().strip()
            if not (folder / tag).is_dir() or not any((folder / tag).iterdir()):
                problems.append(f"DeepSpeed state {tag}/ named by `latest` is missing or empty")
        else:
            required.append(folder / "optimizer.pt")
        if not any(folder.glob("rng_state*.pth")):
            problems.append("rng_state*.pth is missing")
    problems += [f"{p.name} is missing" for p in required if not p.exists()]
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        problem = file_problem(path)
        if problem is not None:
            rel = path.relative_to(folder)
            problems.append(problem if rel.name == str(rel) else f"{rel.parent}/{problem}")
    return problems


def _saved_only_model(folder: Path) -> bool:
    try:
        import torch

        args = torch.load(folder / "training_args.bin", weights_only=False)
        return bool(getattr(args, "save_only_model", False))
    except Exception:  # noqa: BLE001 - a broken training_args.bin is reported by the file check
        return False


def file_problem(path: Path) -> str | None:
    """Wholeness check of one checkpoint file by its kind (None: fine or a kind that is not checked)."""
    if path.suffix == ".safetensors":
        return safetensors_problem(path)
    if path.suffix == ".json":
        return json_problem(path)
    if path.suffix in (".pt", ".pth", ".bin"):
        return torch_file_problem(path)
    return None


def checkpoints(out_dir: str | Path) -> list[Path]:
    """`checkpoint-<step>` folders of a stage, newest (highest step) first."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in out_dir.iterdir() if p.is_dir() and (m := CHECKPOINT_RE.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def newest_complete_checkpoint(out_dir: str | Path, lora: bool = False) -> Path | None:
    """The highest-step checkpoint that `checkpoint_problems` passes; every newer one skipped is logged with why."""
    for folder in checkpoints(out_dir):
        problems = checkpoint_problems(folder, lora)
        if not problems:
            return folder
        logger.warning("resume: skipping incomplete checkpoint %s: %s", folder, "; ".join(problems))
    return None


def checkpoint_step(folder: str | Path) -> tuple[int, int | None]:
    """`(global_step, max_steps)` recorded in a checkpoint's `trainer_state.json`."""
    state = json.loads((Path(folder) / "trainer_state.json").read_text())
    return int(state["global_step"]), state.get("max_steps")


def reached_end(folder: str | Path, max_steps: int) -> bool:
    """Whether the checkpoint already sits at the stage's last step (`max_steps`, or the planned total when the stage
    is counted in epochs), i.e. training would have nothing left to do."""
    step, planned = checkpoint_step(folder)
    target = max_steps if max_steps and max_steps > 0 else planned
    return target is not None and step >= int(target)


def retire_checkpoints(out_dir: str | Path) -> Path | None:
    """Move a stage's `checkpoint-*` folders and its done marker aside (`force=true`); returns where they went."""
    out_dir = Path(out_dir)
    old = checkpoints(out_dir)
    marker = out_dir / STAGE_DONE
    if not old and not marker.exists():
        return None
    aside = out_dir / time.strftime("superseded-%Y%m%d-%H%M%S")
    aside.mkdir(parents=True, exist_ok=True)
    for folder in old:
        folder.rename(aside / folder.name)
    if marker.exists():
        marker.rename(aside / STAGE_DONE)
    logger.warning("force=true: moved %d checkpoint(s) and the done marker of %s to %s", len(old), out_dir, aside)
    return aside


# ------------------------------------------------------------------------------------------------ finished stages
def stage_settings(cfg, name: str) -> dict:
    """The resolved settings that decide what a stage trains (its stage block, the model, the seed, the optimiser
    settings), flattened to `dotted.key: value` for comparison."""
    from omegaconf import OmegaConf

    def plain(node):
        return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node

    train = dict(plain(cfg.get("train")) or {})
    for key in _UNTRAINED_KEYS:
        train.pop(key, None)
    tree = {"stage": plain(cfg.stages[name]), "model": plain(cfg.get("model")), "train": train, "seed": cfg.get("seed")}
    return json.loads(json.dumps(_flatten(tree), default=str))


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            out.update(_flatten(sub, f"{prefix}{key}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): value}


def finished_stage(out_dir: str | Path) -> dict | None:
    """The done marker of a stage folder, or None (absent or unreadable: then the stage is not finished)."""
    path = Path(out_dir) / STAGE_DONE
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        logger.warning("%s is unreadable (%s); the stage counts as unfinished", path, exc)
        return None
    return marker if isinstance(marker, dict) else None


def changed_settings(marker: dict, settings: dict) -> list[str]:
    """Keys whose value differs between a finished run's settings and the current ones."""
    before = marker.get("settings") or {}
    return sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))


def mark_finished(out_dir: str | Path, name: str, global_step: int, settings: dict, files: list[Path]) -> Path:
    """Write the done marker (atomically, after everything else of the stage is on disk)."""
    out_dir = Path(out_dir)
    marker = {
        "stage": name,
        "global_step": int(global_step),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "exported": sorted(str(Path(f).relative_to(out_dir)) for f in files),
        "settings": settings,
    }
    atomic_write_json(out_dir / STAGE_DONE, marker, indent=2)
    return out_dir / STAGE_DONE


def skip_finished_stage(out_dir: str | Path, name: str, settings: dict, force: bool = False) -> bool:
    """True when the stage already finished with these settings (logged: nothing is run). With `force` the old
    checkpoints are moved aside and the stage trains from scratch; with other settings the done marker is dropped and
    the stage continues from its newest complete checkpoint."""
    import os

    out_dir = Path(out_dir)
    main_process = int(os.environ.get("RANK", "0")) == 0
    if force:
        if main_process:
            retire_checkpoints(out_dir)
        return False
    marker = finished_stage(out_dir)
    if marker is None:
        return False
    changed = changed_settings(marker, settings)
    if not changed:
        logger.warning(
            "stage %s already finished at step %s (%s); nothing to do. Set force=true to train it again.",
            name,
            marker.get("global_step"),
            out_dir / STAGE_DONE,
        )
        return True
    shown = ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "")
    logger.warning(
        "stage %s finished at step %s with other settings (changed: %s); continuing from its newest complete "
        "checkpoint (force=true trains it from scratch)",
        name,
        marker.get("global_step"),
        shown,
    )
    if main_process:
        (out_dir / STAGE_DONE).unlink(missing_ok=True)
    return False
