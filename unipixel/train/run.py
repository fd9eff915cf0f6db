"""Run training stages from a composed config (see `configs/train.yaml`); `python -m unipixel.train` calls `run`.

A stage: build tokenizer and model (full checkpoint, base Qwen2.5-VL + SAM 2.1, or random tiny), load the partial
checkpoints of earlier stages, select trainable modules (LoRA through peft), build the data mixture and the grouped
sampler, train with `PixelTrainer`, export. Gradient accumulation is derived from the global batch, the world size
and the per-device batch, never set by hand.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

logger = logging.getLogger(__name__)

PIXEL_TOKENS = ["<|ref|>", "<|seg|>", "<|mem|>"]


def as_dict(node) -> dict:
    """A config node (or None) as a plain, resolved dict."""
    if node is None:
        return {}
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def grad_accumulation(global_batch: int, per_device: int, world: int) -> int:
    """`global_batch / (world x per_device)`; refuses layouts that cannot reach the global batch exactly."""
    denom = per_device * world
    if global_batch % denom:
        raise ValueError(
            f"global batch {global_batch} is not a multiple of per-device batch {per_device} x world size {world}"
        )
    return global_batch // denom


def configure_logging_backends(report_to: list[str]) -> list[str]:
    """wandb runs offline unless an API key is configured; unknown backends are dropped with a warning."""
    if "wandb" in report_to and not os.environ.get("WANDB_API_KEY") and not os.environ.get("WANDB_MODE"):
        os.environ["WANDB_MODE"] = "offline"
    return list(report_to)


def build_tokenizer(model_cfg: DictConfig):
    """The tiny local tokenizer, or the one next to the weights with UniPixel's three tokens added."""
    if model_cfg.name == "tiny":
        from unipixel.model.tiny import build_tiny_tokenizer

        return build_tiny_tokenizer()
    from transformers import AutoTokenizer

    source = model_cfg.path or model_cfg.base_path
    if model_cfg.path:
        from unipixel.utils.model_folder import check_model_folder

        check_model_folder(model_cfg.path)  # a missing folder or one without config.json: named, at once
    tokenizer = AutoTokenizer.from_pretrained(source)
    missing = [t for t in PIXEL_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": PIXEL_TOKENS})
    return tokenizer


def attn_implementation(requested: str = "auto") -> str:
    """flash-attention 2 when installed, SDPA otherwise (an explicit choice is kept)."""
    if requested != "auto":
        return requested
    from transformers.utils import is_flash_attn_2_available

    return "flash_attention_2" if is_flash_attn_2_available() else "sdpa"


def build_model(model_cfg: DictConfig, tokenizer, stage_cfg: DictConfig, hardware: DictConfig, seed: int):
    """Full checkpoint (`path`), or base Qwen2.5-VL + SAM 2.1 (`base_path`), or random init (tiny)."""
    from hydra.utils import instantiate

    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration as Model

    overrides = as_dict(stage_cfg.get("model_overrides"))
    attn = attn_implementation(hardware.get("attn_implementation", "auto"))
    if model_cfg.path:
        from unipixel.utils.model_folder import check_model_folder

        check_model_folder(model_cfg.path, tokenizer=False)
        model = Model.from_pretrained(model_cfg.path, attn_implementation=attn)
    else:
        config = (
            instantiate(model_cfg.config, tokenizer=tokenizer)
            if model_cfg.name == "tiny"
            else instantiate(model_cfg.config)
        )
        if model_cfg.base_path:
            model = Model.from_base(
                model_cfg.base_path, model_cfg.sam2_checkpoint, config=config, attn_implementation=attn
            )
        else:
            torch.manual_seed(seed)
            config._attn_implementation = attn
            model = Model(config)
    for key, value in overrides.items():
        if not hasattr(model.config, key):
            raise ValueError(f"stage model_overrides: unknown config field {key!r}")
        setattr(model.config, key, value)
    return model


def build_data(stage_cfg: DictConfig, processor, seed: int):
    from unipixel.data.mixture import build_mixture

    data = stage_cfg.data
    common = as_dict(data.get("common"))
    return build_mixture(
        list(data.datasets),
        config_dir=data.get("config_dir"),
        per_dataset=as_dict(data.get("per_dataset")),
        root=data.root,
        processor=processor,
        **common,
    )


# TrainingArguments fields the stage builder sets itself, and where a user sets them instead of `train.<field>`.
DERIVED_FIELDS = {
    "output_dir": "output_dir (the stage writes to <output_dir>/<stage>)",
    "logging_dir": "output_dir (logs go to <output_dir>/<stage>/logs)",
    "gradient_accumulation_steps": "stages.<stage>.global_batch_size (accumulation = global batch / (world size x "
    "per-device batch))",
    "learning_rate": "stages.<stage>.learning_rate",
    "num_train_epochs": "stages.<stage>.num_epochs",
    "max_steps": "stages.<stage>.max_steps",
    "save_steps": "stages.<stage>.save_steps",
    "seed": "seed (top level)",
    "data_seed": "seed (top level)",
    "bf16": "hardware.bf16",
    "tf32": "hardware.tf32",
    "use_cpu": "hardware.use_cpu",
    "deepspeed": "hardware.deepspeed (or stages.<stage>.deepspeed)",
}
# `train.<field>` defaults a stage may override with its own key (stage key in the value).
STAGE_OVERRIDES = {"per_device_train_batch_size": "per_device_batch_size", "warmup_ratio": "warmup_ratio"}
# Spellings of older transformers releases that `training_arguments` translates (see there).
TRANSLATED_FIELDS = ("warmup_ratio", "logging_dir")


def check_training_fields(mapping: dict, where: str = "train") -> None:
    """Every key of `mapping` must be a `TrainingArguments` field the user may set; else a `ValueError` naming the key,
    the closest field names, or the config key that sets it."""
    import dataclasses
    import difflib

    from transformers import TrainingArguments

    fields = {f.name for f in dataclasses.fields(TrainingArguments) if f.init} | set(TRANSLATED_FIELDS)
    problems = []
    for key in mapping:
        if key in DERIVED_FIELDS:
            problems.append(f"{where}.{key} is set by the stage builder; set {DERIVED_FIELDS[key]} instead")
        elif key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(f"{where}.{key} is not a transformers.TrainingArguments field{hint}")
    if problems:
        raise ValueError("; ".join(problems))


def training_arguments(**kwargs):
    """`TrainingArguments` across transformers 5.x: the warm-up ratio moved into `warmup_steps` (a float < 1) and
    `logging_dir` became the `TENSORBOARD_LOGGING_DIR` environment variable in later releases."""
    import inspect

    from transformers import TrainingArguments

    accepted = inspect.signature(TrainingArguments.__init__).parameters
    if "warmup_ratio" not in accepted and "warmup_ratio" in kwargs:
        kwargs["warmup_steps"] = kwargs.pop("warmup_ratio")
    if "logging_dir" not in accepted and "logging_dir" in kwargs:
        os.environ.setdefault("TENSORBOARD_LOGGING_DIR", kwargs.pop("logging_dir"))
    return TrainingArguments(**kwargs)


def stage_training_arguments(cfg: DictConfig, name: str, out_dir: Path, per_device: int, accumulation: int):
    """The stage's `TrainingArguments`: `cfg.train` passed through as it is (any field; an unknown one or one the
    builder derives is a `ValueError`), a stage's `per_device_batch_size` / `warmup_ratio` over the `train` defaults,
    then what the stage, the hardware preset and the run decide (see `DERIVED_FIELDS`)."""
    stage = cfg.stages[name]
    kwargs = as_dict(cfg.train)
    check_training_fields(kwargs)
    for field, stage_key in STAGE_OVERRIDES.items():
        if stage.get(stage_key) is not None:
            kwargs[field] = stage[stage_key]
    kwargs["per_device_train_batch_size"] = per_device
    kwargs["report_to"] = configure_logging_backends(list(kwargs.get("report_to") or []))
    kwargs.setdefault("run_name", f"{cfg.name}-{name}")
    hardware = cfg.hardware
    kwargs.update(
        output_dir=str(out_dir),
        logging_dir=str(out_dir / "logs"),
        gradient_accumulation_steps=accumulation,
        learning_rate=float(stage.learning_rate),
        num_train_epochs=float(stage.get("num_epochs", 1)),
        max_steps=int(stage.get("max_steps") or -1),
        save_steps=int(stage.save_steps),
        seed=int(cfg.seed),
        data_seed=int(cfg.seed),
        bf16=bool(hardware.bf16),
        tf32=bool(hardware.tf32) if torch.cuda.is_available() else None,
        use_cpu=bool(hardware.get("use_cpu", False)),
        deepspeed=resolve_deepspeed(stage.get("deepspeed") or hardware.get("deepspeed")),
    )
    return training_arguments(**kwargs)


def resolve_deepspeed(path: str | None) -> str | None:
    """A DeepSpeed JSON named relative to the config tree (`configs/deepspeed/zero3.json` or `deepspeed/zero3.json`,
    whatever the working directory and however the package is installed), or an absolute / working-directory path
    to a file of one's own; returns an absolute path."""
    if not path:
        return None
    from unipixel.paths import config_dir

    candidate = Path(path)
    if candidate.is_absolute():
        if not candidate.is_file():
            raise FileNotFoundError(f"DeepSpeed config {path} does not exist")
        return str(candidate)
    inside = Path(*candidate.parts[1:]) if candidate.parts[0] == "configs" else candidate
    tried = [config_dir() / inside, Path.cwd() / candidate]
    for option in tried:
        if option.is_file():
            return str(option.resolve())
    raise FileNotFoundError(f"DeepSpeed config {path} not found; looked for {', '.join(map(str, tried))}")


def save_stage_config(cfg: DictConfig, out_dir: Path) -> None:
    """The resolved config in the stage folder, every path in it absolute (so that `convert_checkpoint.py export`
    works from any working directory)."""
    resolved = OmegaConf.create(as_dict(cfg))
    for key in ("output_dir", "model.path", "model.base_path", "model.sam2_checkpoint", "toy_data.root"):
        value = OmegaConf.select(resolved, key, default=None)
        if isinstance(value, str) and value and value != "tiny":
            OmegaConf.update(resolved, key, str(Path(value).resolve()))
    for stage in (resolved.get("stages") or {}).values():
        if stage.get("partial_checkpoints"):
            stage.partial_checkpoints = [str(Path(p).resolve()) for p in stage.partial_checkpoints]
        if stage.get("data") is not None and stage.data.get("root"):
            stage.data.root = str(Path(stage.data.root).resolve())
        if stage.get("deepspeed"):
            stage.deepspeed = resolve_deepspeed(stage.deepspeed)
    if resolved.get("hardware") is not None and resolved.hardware.get("deepspeed"):
        resolved.hardware.deepspeed = resolve_deepspeed(resolved.hardware.deepspeed)
    OmegaConf.save(resolved, out_dir / "config.yaml")


def build_stage_model(cfg: DictConfig, name: str, tokenizer):
    """The model a stage trains: built (see `build_model`), earlier stages' partial checkpoints loaded, trainable
    modules selected (LoRA through peft), gradient checkpointing per the hardware preset."""
    from .checkpoint import load_partial
    from .modules import configure_trainable

    stage = cfg.stages[name]
    model = build_model(cfg.model, tokenizer, stage, cfg.hardware, int(cfg.seed))
    for partial in stage.get("partial_checkpoints") or []:
        load_partial(model, partial)
    model = configure_trainable(model, list(stage.tuning_modules), as_dict(stage.get("lora")) or None)
    if cfg.hardware.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    return model


def build_processor(stage: DictConfig, tokenizer, model):
    """The stage's `PixelProcessor`: SAM 2's input size from the model, the clip length and the pixel budget from the
    stage's data config."""
    from unipixel.data.processor import PixelProcessor

    common = stage.data.get("common") or {}
    return PixelProcessor(
        tokenizer,
        sam2_image_size=model.config.sam2_image_size,
        target_frames=int(common.get("sample_frames", 8)),
        **as_dict(stage.data.get("processor")),
    )


def build_sampler(cfg: DictConfig, name: str, dataset) -> tuple:
    """`(sampler, per-device batch, gradient accumulation)`: the grouped sampler over the global index order (accelerate
    hands each rank its batches) and the accumulation that reaches the stage's global batch."""
    from unipixel.data.mixture import DataTypeGroupedSampler

    stage = cfg.stages[name]
    world = world_size()
    per_device = int(stage.get("per_device_batch_size") or cfg.train.per_device_train_batch_size)
    accumulation = grad_accumulation(int(stage.global_batch_size), per_device, world)
    sampler = DataTypeGroupedSampler(
        dataset.data_types,
        per_device_batch=per_device,
        world_size=world,
        rank=0,
        seed=int(cfg.seed),
        remainder=(stage.data.get("sampler") or {}).get("remainder", "pad"),
        shard=False,
    )
    return sampler, per_device, accumulation


def build_stage(cfg: DictConfig, name: str, dataset=None):
    """Everything a stage needs, ready to train: returns `(trainer, tokenizer, out_dir)`.

    `dataset` (optional) replaces the stage's configured mixture: any torch Dataset of `Sample`s or processed items
    with a `data_types` attribute (one data type per index) works.
    """
    from .trainer import PixelTrainer

    stage = cfg.stages[name]
    out_dir = Path(cfg.output_dir) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    save_stage_config(cfg, out_dir)

    tokenizer = build_tokenizer(cfg.model)
    model = build_stage_model(cfg, name, tokenizer)
    processor = build_processor(stage, tokenizer, model)
    dataset = build_data(stage, processor, int(cfg.seed)) if dataset is None else dataset
    sampler, per_device, accumulation = build_sampler(cfg, name, dataset)
    args = stage_training_arguments(cfg, name, out_dir, per_device, accumulation)
    trainer = PixelTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=Collator(processor),
        tuning_groups=[g for g in stage.tuning_modules if g != "lora"],
        sam2_learning_rate=stage.get("sam2_learning_rate"),
        train_sampler=sampler,
        export_full_model=bool(stage.get("export_full_model", False)),
        lm_weight_ramp=stage.get("lm_weight_ramp"),  # the trainer checks and converts it
    )
    logger.info(
        "stage %s: %d samples, world %d x per-device %d x accumulation %d = global batch %d",
        name,
        len(dataset),
        world_size(),
        per_device,
        accumulation,
        int(stage.global_batch_size),
    )
    return trainer, tokenizer, out_dir


def run_stage(cfg: DictConfig, name: str, dataset=None) -> Path:
    """Train one stage and export; returns the output folder.

    A stage that already finished with the same settings is not run again (`force=true` retrains it); otherwise
    training resumes from the newest complete `checkpoint-*` (see `unipixel.train.resume`), and the export is
    published file by file before `stage_done.json` marks the stage finished.
    """
    from .resume import checkpoint_step, mark_finished, reached_end, skip_finished_stage, stage_settings

    settings = stage_settings(cfg, name)
    if skip_finished_stage(Path(cfg.output_dir) / name, name, settings, force=bool(cfg.get("force", False))):
        return Path(cfg.output_dir) / name
    trainer, tokenizer, out_dir = build_stage(cfg, name, dataset)
    resume = resume_checkpoint(trainer, out_dir) if cfg.get("resume", True) else None
    if resume is not None and reached_end(resume, trainer.args.max_steps):
        # the run ended there and was cut short while exporting: export those weights, train no further step
        logger.info("stage %s: %s is already at the last step; exporting its weights", name, resume.name)
        trainer._load_from_checkpoint(str(resume))
        step = checkpoint_step(resume)[0]
    else:
        trainer.train(resume_from_checkpoint=None if resume is None else str(resume))
        step = trainer.state.global_step
    files = export_stage(trainer, tokenizer, out_dir, cfg.stages[name])
    if trainer.args.should_save:
        mark_finished(out_dir, name, step, settings, files)
    if hasattr(trainer.train_dataset, "summary"):
        logger.info("data summary for %s:\n%s", name, trainer.train_dataset.summary())
    return out_dir


def resume_checkpoint(trainer, out_dir: Path) -> Path | None:
    """The newest complete checkpoint of the stage folder (incomplete ones are skipped with a warning)."""
    from .resume import newest_complete_checkpoint
    from .trainer import unwrap_peft

    return newest_complete_checkpoint(out_dir, lora=unwrap_peft(trainer.model) is not None)


def export_stage(trainer, tokenizer, out_dir: Path, stage: DictConfig) -> list[Path]:
    """Export into a staging folder, then move each file into `out_dir` by an atomic rename; returns the files."""
    import shutil

    from unipixel.utils.files import publish_folder

    staging = out_dir / ".export-staging"
    if trainer.args.should_save and staging.exists():
        shutil.rmtree(staging)  # left by a kill during an earlier export
    extra = {"partial_checkpoint": ",".join(map(str, stage.get("partial_checkpoints") or [])) or None}
    trainer.export(str(staging), tokenizer=tokenizer, extra_config=extra)
    if not trainer.args.should_save:
        return []
    if stage.get("export_full_model"):
        write_processor_settings(stage, staging)
    return publish_folder(staging, out_dir)


def write_processor_settings(stage: DictConfig, out_dir: str | Path) -> None:
    """The pixel budget the stage trained with (`data.processor`), beside an exported model: `Predictor.from_pretrained`
    reads it back. Nothing is written when the stage uses the processor's defaults."""
    from unipixel.inference.predictor import PROCESSOR_FILE
    from unipixel.utils.files import atomic_write_text

    settings = as_dict(stage.data.get("processor"))
    if settings:
        atomic_write_text(Path(out_dir) / PROCESSOR_FILE, json.dumps(settings, indent=2))


class Collator:
    """Batches processed items (or raw `Sample`s) into model inputs; picklable for dataloader workers."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, items: list) -> dict:
        from unipixel.data.processor import Sample, model_inputs

        items = [self.processor(item) if isinstance(item, Sample) else item for item in items]
        return model_inputs(self.processor.collate(items))


def selected_stages(cfg: DictConfig) -> list[str]:
    names = list(cfg.stages.keys())
    chosen = cfg.get("run_stages", "all")
    if chosen in (None, "all"):
        return names
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    unknown = [c for c in chosen if c not in names]
    if unknown:
        raise ValueError(f"run_stages {unknown} not in the experiment's stages {names}")
    return chosen


def prepare_toy_data(spec: DictConfig) -> Path:
    """Write the procedural toy data under `spec.root` unless a matching `toy_manifest.json` is already there."""
    from unipixel.data.toy import GENERATOR_VERSION, make_toy_data

    root = Path(spec.root)
    wanted = {
        "version": GENERATOR_VERSION,
        "seed": int(spec.seed),
        "relational": bool(spec.get("relational", True)),
        "num_train": int(spec.num_train),
        "num_val": int(spec.num_val),
    }
    manifest_path = root / "toy_manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        found = {
            "version": manifest.get("version"),
            "seed": manifest.get("seed"),
            "relational": manifest.get("relational", True),
            "num_train": manifest.get("config", {}).get("num_train"),
            "num_val": manifest.get("config", {}).get("num_val"),
        }
        if found == wanted:
            logger.info("toy data found at %s", root)
            return root
        logger.info("toy data at %s was written with %s; regenerating with %s", root, found, wanted)
    logger.info("writing toy data to %s (%s)", root, wanted)
    make_toy_data(
        root,
        seed=wanted["seed"],
        num_train=wanted["num_train"],
        num_val=wanted["num_val"],
        relational=wanted["relational"],
    )
    return root


def configure_determinism(cfg: DictConfig) -> None:
    """Pin what changes float results between runs with the same seed: the number of CPU threads (`threads`, it sets
    the reduction order of matrix products) and, with `deterministic`, torch's deterministic kernels (warn-only)."""
    threads = cfg.get("threads")
    if threads is not None:
        torch.set_num_threads(int(threads))
        logger.info("torch CPU threads pinned to %d", int(threads))
    if cfg.get("deterministic"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def run(cfg: DictConfig) -> dict[str, Path]:
    """Run the selected stages in order (after writing the toy data when the experiment asks for it), then the
    experiment's `evaluation` block if it has one; returns each stage's output folder."""
    if not cfg.get("stages"):
        raise ValueError("the config defines no stages; pick an experiment, e.g. experiment=toy")
    configure_determinism(cfg)
    if cfg.get("toy_data") and int(os.environ.get("LOCAL_RANK", "0")) == 0:
        prepare_toy_data(cfg.toy_data)
    outputs = {}
    for name in selected_stages(cfg):
        outputs[name] = run_stage(cfg, name)
    last = list(cfg.stages.keys())[-1]
    if cfg.get("evaluation") and last in outputs and int(os.environ.get("RANK", "0")) == 0:
        from .evaluate import evaluate_run

        evaluate_run(cfg, outputs[last], last)
    return outputs
