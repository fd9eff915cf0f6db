"""`PixelTrainer`: transformers' `Trainer` (which drives accelerate and DeepSpeed) with UniPixel's specifics.

- SAM 2 in its own optimiser group at its own learning rate;
- the per-data-type grouped sampler (every rank sees the same data type at the same step);
- LM and mask loss components logged next to the total loss;
- stages 1/2 save partial checkpoints (trained tensors + the buffers they depend on), stage 3 saves resumable
  partial checkpoints while training and a merged, full HF model at the end;
- resuming loads the partial weights of the checkpoint strictly.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import torch
from transformers import Trainer

from .checkpoint import load_partial, save_partial, unwrap
from .modules import parameter_groups

logger = logging.getLogger(__name__)


class PixelTrainer(Trainer):
    """Trainer for one UniPixel stage.

    Args (besides the Trainer's own):
        tuning_groups: the stage's module groups (saved in partial checkpoints).
        sam2_learning_rate: learning rate of SAM 2's parameters (None: the base rate).
        train_sampler: sampler yielding the global index order (see `unipixel.data.mixture`); None: Trainer default.
        export_full_model: at the end, merge LoRA and save a full model loadable with `from_pretrained`.
        lm_weight_ramp: `(start, end)` optimizer steps: the LM loss weight (`config.loss_lm_weight`) is 0 before
            `start`, rises linearly to its configured value at `end` and stays there (`ramped_weight`); None: constant.
    """

    def __init__(
        self,
        *args,
        tuning_groups: list[str],
        sam2_learning_rate: float | None = None,
        train_sampler=None,
        export_full_model: bool = False,
        lm_weight_ramp: tuple[int, int] | list[int] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if lm_weight_ramp is not None:
            start, end = (int(v) for v in lm_weight_ramp)
            if not 0 <= start <= end:
                raise ValueError(f"lm_weight_ramp must be [start, end] with 0 <= start <= end, got {lm_weight_ramp}")
            lm_weight_ramp = (start, end)
        self.lm_weight_ramp = lm_weight_ramp
        self.lm_weight_target = float(getattr(self.model.config, "loss_lm_weight", 1.0))
        self.tuning_groups = list(tuning_groups)
        self.sam2_learning_rate = sam2_learning_rate
        self.train_sampler = train_sampler
        self.export_full_model = export_full_model
        self._component_sums: dict[str, float] = defaultdict(float)
        self._component_counts: dict[str, int] = defaultdict(int)

    # ------------------------------------------------------------------ optimiser / data
    def create_optimizer(self, model=None):
        if self.optimizer is None:
            groups = parameter_groups(
                self.model if model is None else model,
                self.args.learning_rate,
                self.sam2_learning_rate,
                self.args.weight_decay,
            )
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, self.model)
            optimizer_kwargs.pop("lr", None)
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    def _get_train_sampler(self, train_dataset=None):
        if self.train_sampler is not None:
            return self.train_sampler
        return super()._get_train_sampler(train_dataset)

    # ------------------------------------------------------------------ loss + logging
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.lm_weight_ramp is not None and model.training:
            weight = ramped_weight(self.lm_weight_target, self.state.global_step, self.lm_weight_ramp)
            self.model.config.loss_lm_weight = weight
            self._component_sums["lm_weight"] += weight
            self._component_counts["lm_weight"] += 1
        outputs = model(**inputs)
        loss = outputs["loss"]
        if model.training and not loss.requires_grad:
            raise RuntimeError(
                f"this batch reaches none of the stage's trainable modules ({self.tuning_groups}); the stage's data "
                "must exercise them (e.g. stage 1 needs <|ref|> samples, stage 2 samples with masks)"
            )
        for key in ("lm_loss", "mask_loss", "mask_focal", "mask_dice", "mask_iou", "mask_class"):
            value = outputs.get(key) if hasattr(outputs, "get") else None
            if value is not None:
                self._component_sums[key] += float(value.detach())
                self._component_counts[key] += 1
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if "loss" in logs:
            for key, total in self._component_sums.items():
                logs[key] = round(total / max(self._component_counts[key], 1), 6)
            self._component_sums.clear()
            self._component_counts.clear()
        super().log(logs, *args, **kwargs)

    # ------------------------------------------------------------------ saving / resuming
    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """A resumable checkpoint: the stage's trained groups (`partial_model.safetensors`) and, with LoRA, the
        adapter in peft's format. `state_dict` is what the HF Trainer gathered from the ranks (DeepSpeed ZeRO-3
        partitions the parameters, so `self.model`'s own tensors are empty there); without one, the model's own."""
        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        save_partial(self.model, output_dir, self.tuning_groups, state_dict=state_dict)
        self.save_lora(output_dir, state_dict=state_dict)
        torch.save(self.args, Path(output_dir) / "training_args.bin")

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None) -> None:
        load_partial(model or self.model, resume_from_checkpoint)
        if any("lora_" in n for n, _ in (model or self.model).named_parameters()):
            self._load_lora(model or self.model, resume_from_checkpoint)

    def _load_lora(self, model, checkpoint_dir) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        path = Path(checkpoint_dir) / "adapter_model.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"{checkpoint_dir} lacks the LoRA weights ({path.name}) needed to resume")
        result = set_peft_model_state_dict(unwrap_peft(model), load_file(str(path)))
        if getattr(result, "unexpected_keys", None):
            raise RuntimeError(f"unexpected LoRA keys in {path}: {result.unexpected_keys[:10]}")

    def save_lora(self, output_dir: str, state_dict: dict | None = None) -> None:
        """The LoRA adapter as peft saves it (`adapter_config.json` + `adapter_model.safetensors`), so that
        `PeftModel.from_pretrained(model, output_dir)` opens it; a no-op without LoRA. `state_dict`: a gathered state
        dict (ZeRO-3) to take the adapter's tensors from instead of the model's own."""
        peft_model = unwrap_peft(self.model)
        if peft_model is None:
            return
        if state_dict is not None:
            state_dict = {strip_wrapper(k): v for k, v in state_dict.items()}
            missing = [k for k, _ in peft_model.named_parameters() if "lora_" in k and k not in state_dict]
            if missing:
                raise RuntimeError(f"the gathered state dict lacks {len(missing)} LoRA tensors, e.g. {missing[:5]}")
        # the embeddings (when trained) go to the partial checkpoint; peft's "auto" would look up the base model
        peft_model.save_pretrained(
            output_dir, state_dict=state_dict, safe_serialization=True, save_embedding_layers=False
        )

    def export(self, output_dir: str, tokenizer=None, extra_config: dict | None = None) -> None:
        """Final save: a full model (LoRA merged into the base weights) when `export_full_model`, else partial. Call it
        on every rank: under DeepSpeed ZeRO-3 the weights are first gathered from all of them."""
        if self.lm_weight_ramp is not None:  # save the configured weight, not where the ramp stood
            self.model.config.loss_lm_weight = self.lm_weight_target
        gathered = self.gathered_state_dict()
        if not self.args.should_save:
            return
        if not self.export_full_model:
            save_partial(self.model, output_dir, self.tuning_groups, state_dict=gathered)
            return
        if gathered is None:
            save_full_model(self.accelerator.unwrap_model(self.model), output_dir, tokenizer, extra_config)
            return
        dtypes = {v.dtype for v in gathered.values() if v.is_floating_point()}
        dtype = dtypes.pop() if len(dtypes) == 1 else None  # merged in fp32, saved as gathered (bf16 under DeepSpeed)
        save_full_model(self.rebuilt_model(gathered), output_dir, tokenizer, extra_config, dtype=dtype)

    def gathered_state_dict(self) -> dict | None:
        """Under DeepSpeed ZeRO-3, the whole state dict gathered from the ranks (the main process gets it; every rank
        must call); None otherwise (the model's own tensors are complete)."""
        engine = getattr(self, "deepspeed", None)
        if engine is None or not engine.zero_optimization_partition_weights():
            return None
        return self.accelerator.get_state_dict(engine)

    def rebuilt_model(self, state_dict: dict):
        """A complete fp32 copy of the trained model on the CPU from a gathered state dict (ZeRO-3 leaves only
        partitions in `self.model`): the same architecture and LoRA wrapping, loaded strictly."""
        import copy

        plain = unwrap(self.model)
        model = type(plain)(copy.deepcopy(plain.config))
        peft_model = unwrap_peft(self.model)
        if peft_model is not None:
            from peft import get_peft_model

            model = get_peft_model(model, copy.deepcopy(peft_model.peft_config[peft_model.active_adapter]))
        state = {strip_wrapper(k): v for k, v in state_dict.items()}
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise RuntimeError(
                f"the gathered state dict does not match the model: missing {result.missing_keys[:10]}, "
                f"unexpected {result.unexpected_keys[:10]}"
            )
        return model


def ramped_weight(target: float, step: int, ramp: tuple[int, int]) -> float:
    """`target` scaled by the ramp `(start, end)` at optimizer step `step`: 0 before `start`, linear up to `end`."""
    start, end = ramp
    if step < start:
        return 0.0
    if step >= end:
        return float(target)
    return float(target) * (step - start) / (end - start)


def save_full_model(
    model, output_dir: str, tokenizer=None, extra_config: dict | None = None, dtype: torch.dtype | None = None
) -> None:
    """Merge LoRA (if any) into the base weights and save a full model loadable with `from_pretrained` (and the
    tokenizer beside it), cast to `dtype` after merging when given. Also used by `tools/convert_checkpoint.py export`
    on a saved training output."""
    peft_model = unwrap_peft(model)
    if peft_model is not None:
        model = peft_model.merge_and_unload()
    model = unwrap(model)
    if dtype is not None:
        model = model.to(dtype)
    for key, value in (extra_config or {}).items():
        setattr(model.config, key, value)
    model.save_pretrained(output_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(output_dir)
    logger.info("saved the full model to %s", output_dir)


def strip_wrapper(name: str) -> str:
    """A parameter name without the `module.` prefixes DDP / DeepSpeed wrappers add."""
    while name.startswith("module."):
        name = name[len("module.") :]
    return name


def unwrap_peft(model):
    """The peft model inside DDP/DeepSpeed wrappers, or None."""
    from peft import PeftModel

    while hasattr(model, "module"):
        model = model.module
    return model if isinstance(model, PeftModel) else None
