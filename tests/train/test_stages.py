"""Each stage trains only what it should, checkpoints chain strictly from stages 1-2 into stage 3."""

import pytest
import torch

from tests.train.synthetic import SyntheticDataset
from unipixel.train.checkpoint import load_partial, unwrap
from unipixel.train.modules import MODULE_GROUPS, matches, strip_peft
from unipixel.train.run import build_stage, grad_accumulation, run_stage


def snapshot(trainer):
    """Plain-named copies of every base tensor (LoRA adapters left out)."""
    state = trainer.model.state_dict()
    return {strip_peft(k): v.detach().clone() for k, v in state.items() if "lora_" not in k}


def changed_parameters(trainer, before):
    return sorted(k for k, v in snapshot(trainer).items() if k in before and not torch.equal(before[k], v))


def test_gradient_accumulation_is_derived():
    assert grad_accumulation(256, 1, 8) == 32 and grad_accumulation(32, 2, 16) == 1
    with pytest.raises(ValueError, match="not a multiple"):
        grad_accumulation(32, 1, 3)


STAGE_DATA = {"stage1": ("ref_point",), "stage2": ("seg_image", "seg_video")}


@pytest.mark.parametrize(
    "stage,groups",
    [("stage1", ["ref"]), ("stage2", ["seg"])],
)
def test_stage_trains_only_its_modules(tiny_experiment, stage, groups):
    cfg = tiny_experiment()
    trainer, _, _ = build_stage(cfg, stage, dataset=SyntheticDataset(8, STAGE_DATA[stage]))
    before = snapshot(trainer)
    trainer.train()
    assert trainer.state.global_step == 3
    changed = changed_parameters(trainer, before)
    prefixes = [p for g in groups for p in MODULE_GROUPS[g]]
    assert changed, "the stage changed nothing"
    assert all(matches(k, prefixes) for k in changed), [k for k in changed if not matches(k, prefixes)]
    if stage == "stage1":
        assert not unwrap(trainer.model).config.sam2_enable_decoder


def test_three_stages_chain(tiny_experiment, tmp_path):
    cfg = tiny_experiment()
    data = SyntheticDataset(8)
    stage1 = run_stage(cfg, "stage1", dataset=SyntheticDataset(4, STAGE_DATA["stage1"]))
    stage2 = run_stage(cfg, "stage2", dataset=SyntheticDataset(4, STAGE_DATA["stage2"]))
    assert (stage1 / "partial_model.safetensors").exists() and (stage2 / "partial_model.json").exists()
    trainer, tokenizer, out = build_stage(cfg, "stage3", dataset=data)
    model = unwrap(trainer.model)
    # stage 3 starts from the stage-1/2 weights, buffers included (B2)
    from safetensors.torch import load_file

    s1, s2 = load_file(str(stage1 / "partial_model.safetensors")), load_file(str(stage2 / "partial_model.safetensors"))
    assert "tem_pe.positional_encoding_gaussian_matrix" in s1
    for key, value in {**s1, **s2}.items():
        assert torch.equal(model.state_dict()[key], value), key
    before = snapshot(trainer)
    trainer.train()
    changed = changed_parameters(trainer, before)
    trained = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n for n in trained) and any(strip_peft(n).startswith("sam2.") for n in trained)
    assert not any(k.startswith("model.visual.merger") for k in changed), "the merger stays frozen in stage 3"
    assert any(k.startswith("sam2.") for k in changed) and any(k.startswith("msk_proj") for k in changed)
    # the exported full model (LoRA merged) computes what the trained LoRA model computes
    from unipixel.data.processor import PixelProcessor, model_inputs
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration

    processor = PixelProcessor(tokenizer, sam2_image_size=128)
    batch = model_inputs(processor.collate([processor(data[2])]))
    trainer.model.eval()
    with torch.no_grad():
        expected = trainer.model(**batch).logits
    trainer.export(str(out), tokenizer=tokenizer)
    full = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(out).eval()  # strict: no peft names left
    with torch.no_grad():
        torch.testing.assert_close(full(**batch).logits, expected, atol=1e-4, rtol=1e-4)
    q = "model.language_model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(full.state_dict()[q], before[q]), "LoRA deltas are merged into the base weights"


def test_stage3_fails_loudly_on_incomplete_partial(tiny_experiment, tmp_path):
    cfg = tiny_experiment()
    stage1 = run_stage(cfg, "stage1", dataset=SyntheticDataset(4, STAGE_DATA["stage1"]))
    from safetensors.torch import load_file, save_file

    state = load_file(str(stage1 / "partial_model.safetensors"))
    del state["tem_proj.bias"]
    save_file(state, str(stage1 / "partial_model.safetensors"))
    trainer, _, _ = build_stage(cfg, "stage2", dataset=SyntheticDataset(4, STAGE_DATA["stage2"]))
    with pytest.raises(RuntimeError, match=r"missing \['tem_proj.bias'\]"):
        load_partial(trainer.model, stage1)


def test_lm_weight_ramp_schedules_the_lm_loss_weight(tiny_experiment):
    """`lm_weight_ramp: [start, end]`: LM loss weight 0 before `start`, linear to the configured weight at `end`; the
    exported config keeps the configured weight. Checked against weights worked out by hand."""
    from unipixel.train.trainer import ramped_weight

    assert [ramped_weight(2.0, s, (2, 6)) for s in (0, 1, 2, 3, 4, 6, 9)] == [0, 0, 0, 0.5, 1.0, 2.0, 2.0]
    assert ramped_weight(0.7, 5, (5, 5)) == 0.7
    cfg = tiny_experiment(["stages.stage2.lm_weight_ramp=[1,3]", "+stages.stage2.model_overrides.loss_lm_weight=0.8"])
    trainer, _, _ = build_stage(cfg, "stage2", dataset=SyntheticDataset(8, STAGE_DATA["stage2"]))
    model = unwrap(trainer.model)
    seen = {}

    def record(*_):
        seen.setdefault(trainer.state.global_step, model.config.loss_lm_weight)

    model.register_forward_pre_hook(record)
    trainer.train()
    assert seen == pytest.approx({0: 0.0, 1: 0.0, 2: 0.4})  # optimizer steps 0, 1, 2 of a [1, 3] ramp to 0.8
    trainer.export(str(trainer.args.output_dir))
    assert model.config.loss_lm_weight == pytest.approx(0.8)
    with pytest.raises(ValueError, match="lm_weight_ramp"):
        build_stage(
            tiny_experiment(["stages.stage2.lm_weight_ramp=[3,1]"]), "stage2", SyntheticDataset(4, ("seg_image",))
        )
