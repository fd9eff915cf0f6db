"""Saving and strict loading: round trips, released on-disk layout, both key spellings, loud failures."""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel

from tests.helpers import box_masks, random_frames
from unipixel.data.processor import Sample, model_inputs
from unipixel.model import PixelQwen2_5_VLForConditionalGeneration


def disk_keys(folder: Path) -> dict[str, torch.dtype]:
    keys = {}
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():
                keys[key] = f.get_slice(key).get_dtype()
    return keys


def outputs(model, processor):
    model.eval()
    frames = random_frames(4)
    conv = [
        {"role": "user", "content": "What is [0] <|ref|>? [1]: <1>-<2> <|mem|> <3>-<4> <|mem|>"},
        {"role": "assistant", "content": "[0] <|seg|> [1] <|seg|>"},
    ]
    masks = box_masks(4, 120, 160, [(10, 10, 50, 50), (70, 40, 120, 100)])
    prompts = torch.tensor([[1.0, 5, 5, 60, 60, 1]])
    sample = Sample("c", "unit", frames, conv, ref_prompts=prompts, refer_masks=masks[1:], seg_masks=masks)
    batch = processor.collate([processor(sample)])
    inputs = model_inputs(batch)
    with torch.no_grad():
        torch.manual_seed(0)
        out = model(**inputs)
        seg = model.segment_prompted(
            inputs.pop("sam2_frames"),
            batch["frame_sizes"],
            **{k: v for k, v in inputs.items() if k not in ("labels", "seg_masks")},
        )
    return out.logits, out.loss, seg[0]


def test_save_load_round_trip_identical(tiny_model, processor, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    keys = disk_keys(tmp_path)
    # legacy Qwen2.5-VL layout and the released fuser spelling, tied lm_head not written
    assert any(k.startswith("visual.blocks.") for k in keys) and any(k.startswith("model.layers.") for k in keys)
    assert not any(k.startswith(("model.visual", "model.language_model")) for k in keys)
    assert "sam2.memory_encoder.fuser.layers.0.weight" in keys and "lm_head.weight" not in keys
    for buffer in (
        "tem_pe.positional_encoding_gaussian_matrix",
        "ref_encoder.pe_layer.positional_encoding_gaussian_matrix",
    ):
        assert buffer in keys, "Fourier buffers are saved (B2)"
    loaded = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path)
    a, b = outputs(tiny_model, processor), outputs(loaded, processor)
    # same weights bit for bit; 1-ulp differences can come from the loaded tensors' memory alignment in BLAS
    torch.testing.assert_close(a[0], b[0], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(a[1], b[1], atol=1e-6, rtol=1e-6)
    assert torch.equal(a[2], b[2])
    assert torch.equal(
        loaded.ref_encoder.pe_layer.positional_encoding_gaussian_matrix,
        loaded.sam2.sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix,
    ), "ref_encoder inherits SAM's Fourier matrix"


def test_auto_classes(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config).__name__ == "PixelQwen2_5_VLConfig" and config.model_type == "pixel_qwen2_5_vl"
    model = AutoModel.from_pretrained(tmp_path)
    assert isinstance(model, PixelQwen2_5_VLForConditionalGeneration)


def test_missing_key_fails_naming_it(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    file = tmp_path / "model.safetensors"
    state = load_file(str(file))
    del state["seg_head.3.bias"]
    save_file(state, str(file), metadata={"format": "pt"})
    with pytest.raises(RuntimeError, match=r"missing_keys \(1\): seg_head\.3\.bias"):
        PixelQwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path)
    model = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path, strict=False)
    assert isinstance(model, PixelQwen2_5_VLForConditionalGeneration)


def test_unexpected_key_fails_naming_it(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    file = tmp_path / "model.safetensors"
    state = load_file(str(file))
    state["seg_head.9.weight"] = torch.zeros(3)
    save_file(state, str(file), metadata={"format": "pt"})
    with pytest.raises(RuntimeError, match=r"unexpected_keys \(1\): seg_head\.9\.weight"):
        PixelQwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path)


def write_released_format(model, folder: Path) -> None:
    """What a released UniPixel checkpoint looks like: bf16, legacy prefixes, 2 shards, released config fields only."""
    state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.save_pretrained(folder, state_dict=state, max_shard_size="10MB")
    config = json.loads((folder / "config.json").read_text())
    for ours in ("mem_token_order", "loss_focal_weight", "loss_dice_weight", "loss_iou_weight", "loss_class_weight"):
        config.pop(ours)
    (folder / "config.json").write_text(json.dumps(config))


def test_released_layout_loads_and_matches(tiny_model, processor, tmp_path):
    write_released_format(tiny_model, tmp_path)
    shards = sorted(tmp_path.glob("*.safetensors"))
    assert len(shards) == 2 and (tmp_path / "model.safetensors.index.json").exists()
    assert set(disk_keys(tmp_path).values()) == {"BF16"}
    loaded = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path, dtype=torch.float32)
    assert loaded.config.mem_token_order == "window", "a released config means the order it was trained with (B1)"
    # the same weights rounded through bf16, as the save did
    state = tiny_model.state_dict()
    tiny_model.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in state.items()})
    reference = tiny_model
    reference.config.mem_token_order = "window"
    a, b = outputs(reference, processor), outputs(loaded, processor)
    torch.testing.assert_close(a[0], b[0], atol=1e-6, rtol=1e-6)
    assert torch.equal(a[2], b[2])


def test_new_layout_and_gamma_spelling_load(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    state = {k: v.contiguous() for k, v in tiny_model.state_dict().items() if k != "lm_head.weight"}
    assert "sam2.memory_encoder.fuser.layers.0.gamma" in state and "model.visual.merger.ln_q.weight" in state
    (tmp_path / "model.safetensors").unlink()
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    loaded = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path)
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_sam2_stays_fp32_under_bf16(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    loaded = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert loaded.model.language_model.embed_tokens.weight.dtype == torch.bfloat16
    assert next(loaded.sam2.parameters()).dtype == torch.float32
    assert loaded.ref_encoder.point_embeddings[0].weight.dtype == torch.float32


def test_from_base_qwen_and_sam2_checkpoint(tiny_model, tmp_path):
    """Stage initialisation: base Qwen2.5-VL weights + official SAM 2.1 .pt, then the UniPixel init (docs/design.md
    §1.8)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from unipixel.model.sam2_adapter import build_sam2

    qwen_cfg = Qwen2_5_VLConfig(
        **{
            k: v
            for k, v in tiny_model.config.to_dict().items()
            if not k.startswith(("sam2", "loss_", "mem_", "ref_", "seg_", "sample_"))
        }
    )
    torch.manual_seed(3)
    qwen = Qwen2_5_VLForConditionalGeneration(qwen_cfg)
    qwen.save_pretrained(tmp_path / "qwen")
    cfg = tiny_model.config
    official = build_sam2(cfg.sam2_config, cfg.sam2_image_size, 0.0, cfg.sam2_overrides).state_dict()
    assert "memory_encoder.fuser.layers.0.gamma" in official
    torch.save({"model": official}, tmp_path / "sam2.pt")
    model = PixelQwen2_5_VLForConditionalGeneration.from_base(
        str(tmp_path / "qwen"), str(tmp_path / "sam2.pt"), config=cfg
    )
    for key, value in qwen.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    for key, value in official.items():
        assert torch.equal(model.sam2.state_dict()[key], value), key
    assert torch.equal(model.msk_proj[0].weight, qwen.model.visual.merger.mlp[0].weight)
    assert torch.equal(
        model.ref_encoder.point_embeddings[1].weight, official["sam_prompt_encoder.point_embeddings.1.weight"]
    )
    # the released spelling of the layer-scale loads too
    renamed = {k.replace("fuser.layers.0.gamma", "fuser.layers.0.weight"): v for k, v in official.items()}
    torch.save({"model": renamed}, tmp_path / "sam2_released_names.pt")
    model.load_sam2_checkpoint(str(tmp_path / "sam2_released_names.pt"))
    broken = dict(official)
    del broken["no_mem_embed"]
    torch.save({"model": broken}, tmp_path / "sam2_broken.pt")
    with pytest.raises(RuntimeError, match="no_mem_embed"):
        model.load_sam2_checkpoint(str(tmp_path / "sam2_broken.pt"))
