"""What a stage writes: LoRA adapters in peft's own format (`PeftModel.from_pretrained` opens a stage's checkpoint and
gives the trained model's outputs), and checkpoints written from the state dict the HF Trainer gathers under DeepSpeed
ZeRO-3 (where the model's own tensors are empty partitions)."""

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.train.synthetic import SyntheticDataset
from unipixel.data.processor import PixelProcessor, model_inputs
from unipixel.train.checkpoint import PARTIAL_WEIGHTS, load_partial
from unipixel.train.run import build_model, build_stage
from unipixel.train.trainer import unwrap_peft

LORA_STAGE3 = ["stages.stage3.partial_checkpoints=[]", "stages.stage3.lora.r=4", "stages.stage3.lora.alpha=8"]


def stage3(tiny_experiment, tmp_path, extra=()):
    cfg = tiny_experiment([*LORA_STAGE3, f"output_dir={tmp_path / 'run'}", *extra])
    data = SyntheticDataset(4)
    trainer, tokenizer, stage_dir = build_stage(cfg, "stage3", dataset=data)
    return cfg, data, trainer, tokenizer, stage_dir


def logits(model, tokenizer, sample) -> torch.Tensor:
    processor = PixelProcessor(tokenizer, sam2_image_size=128)
    batch = model_inputs(processor.collate([processor(sample)]))
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def test_a_stage_adapter_opens_with_peft_and_gives_identical_outputs(tiny_experiment, tmp_path):
    from peft import PeftModel

    steps = ["stages.stage3.max_steps=2", "stages.stage3.save_steps=2", "stages.stage3.global_batch_size=2"]
    cfg, data, trainer, tokenizer, stage_dir = stage3(tiny_experiment, tmp_path, steps)
    trainer.train()
    checkpoint = stage_dir / "checkpoint-2"
    adapter_config = json.loads((checkpoint / "adapter_config.json").read_text())
    assert adapter_config["peft_type"] == "LORA" and adapter_config["r"] == 4 and adapter_config["lora_alpha"] == 8
    assert any("lora_B" in k for k in load_file(str(checkpoint / "adapter_model.safetensors")))

    # the model the stage started from (same config, same seed), the stage's other trained tensors, then the adapter
    base = build_model(cfg.model, tokenizer, cfg.stages.stage3, cfg.hardware, int(cfg.seed))
    load_partial(base, checkpoint)
    opened = PeftModel.from_pretrained(base, str(checkpoint))
    lora_b = next(v for k, v in opened.state_dict().items() if "lora_B" in k)
    assert lora_b.abs().max() > 0, "trained adapter weights were loaded (LoRA B starts at zero)"
    expected = logits(trainer.model, tokenizer, data[1])
    torch.testing.assert_close(logits(opened, tokenizer, data[1]), expected, atol=0, rtol=0)


def test_save_uses_the_gathered_state_dict(tiny_experiment, tmp_path):
    """Stand-in for ZeRO-3: the Trainer hands `_save` the consolidated trainable tensors and buffers (frozen
    parameters excluded, as `_zero3_consolidated_16bit_state_dict(exclude_frozen_parameters=True)` does) while the
    model's own parameters are empty partitions. The checkpoint must hold the gathered values."""
    cfg, data, trainer, tokenizer, stage_dir = stage3(tiny_experiment, tmp_path)
    model = trainer.model
    generator = torch.Generator().manual_seed(1)
    gathered, seen = {}, {}
    for prefix, module in model.named_modules():  # module by module, tied parameters under each name, as DeepSpeed
        prefix = f"{prefix}." if prefix else ""
        for name, param in module.named_parameters(recurse=False):
            if param.requires_grad:
                if id(param) not in seen:
                    noise = 0.1 * torch.randn(param.shape, generator=generator)
                    seen[id(param)] = (param.detach() + noise).to(torch.bfloat16)
                gathered[prefix + name] = seen[id(param)]
        for name, buffer in module.named_buffers(recurse=False):
            if name not in module._non_persistent_buffers_set:
                gathered[prefix + name] = buffer.detach().clone()
    with torch.no_grad():  # what a ZeRO-3 rank holds: empty placeholders
        for param in model.parameters():
            param.data = torch.empty(0, dtype=param.dtype)

    out = stage_dir / "checkpoint-1"
    trainer._save(str(out), state_dict=gathered)

    partial = load_file(str(out / PARTIAL_WEIGHTS))
    sam2_key = "sam2.sam_mask_decoder.iou_prediction_head.layers.0.weight"
    assert torch.equal(partial[sam2_key], gathered[f"base_model.model.{sam2_key}"])
    assert all(v.numel() > 0 for v in partial.values())
    adapter = load_file(str(out / "adapter_model.safetensors"))
    lora_key = "base_model.model.model.language_model.layers.0.self_attn.q_proj.lora_B.weight"
    assert torch.equal(adapter[lora_key], gathered[lora_key.replace(".weight", ".default.weight")])

    # and it loads back into a fresh stage-3 model, strictly
    fresh = build_stage(tiny_experiment([*LORA_STAGE3, f"output_dir={tmp_path / 'fresh'}"]), "stage3", dataset=data)[0]
    fresh._load_from_checkpoint(str(out))
    state = fresh.model.state_dict()
    assert torch.equal(state[f"base_model.model.{sam2_key}"], gathered[f"base_model.model.{sam2_key}"].float())
    assert unwrap_peft(fresh.model) is not None


def test_save_refuses_a_gathered_state_dict_without_the_trained_tensors(tiny_experiment, tmp_path):
    _, _, trainer, _, stage_dir = stage3(tiny_experiment, tmp_path)
    state = {k: v for k, v in trainer.model.state_dict().items() if not k.startswith("base_model.model.sam2.")}
    with pytest.raises(RuntimeError, match="gathered state dict lacks .* tensors of module groups"):
        trainer._save(str(stage_dir / "checkpoint-1"), state_dict=state)


def test_full_export_under_zero3_uses_the_gathered_weights(tiny_experiment, tmp_path, monkeypatch):
    """Stand-in for ZeRO-3 at the end of stage 3: the trainer's own parameters are empty partitions and the Trainer
    gathers the whole state dict (bf16, as DeepSpeed's 16-bit consolidation gives it). The exported full model must be
    the trained one with LoRA merged, in the gathered dtype."""
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration

    cfg, data, trainer, tokenizer, stage_dir = stage3(tiny_experiment, tmp_path)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():  # stand-in for training: move every trained tensor, LoRA B included (it starts at 0)
        for param in trainer.model.parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn(param.shape, generator=generator))
    gathered = {k: v.detach().clone().to(torch.bfloat16) for k, v in trainer.model.state_dict().items()}
    reference = trainer.model  # the same model, its tensors rounded through bf16, merged by peft, for comparison
    with torch.no_grad():
        for key, value in reference.state_dict().items():
            value.copy_(gathered[key].to(value.dtype))
    expected = {k: v.to(torch.bfloat16) for k, v in _merged_state(reference).items()}
    for param in trainer.model.parameters():  # what a ZeRO-3 rank holds
        param.data = torch.empty(0, dtype=param.dtype)
    monkeypatch.setattr(trainer, "gathered_state_dict", lambda: gathered)

    trainer.export(str(tmp_path / "full"), tokenizer=tokenizer)
    full = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "full", dtype=torch.bfloat16)
    state = full.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(state[key].to(torch.bfloat16), value, atol=0, rtol=0, msg=key)


def _merged_state(peft_model) -> dict:
    import copy

    merged = copy.deepcopy(peft_model).merge_and_unload()
    return {k: v.detach().clone() for k, v in merged.state_dict().items()}
