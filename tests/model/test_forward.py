"""Tiny-model forward + backward on every input path: finite gradients that reach the modules each path trains."""

import numpy as np
import pytest
import torch

from tests.helpers import box_masks, random_frames
from unipixel.data.processor import Sample, model_inputs

HEADS = {
    "seg": ["seg_head.1.weight", "seg_head.3.weight", "sam2.sam_mask_decoder.mask_tokens.weight"],
    "ref": ["ref_proj.1.weight", "ref_proj_single.weight", "tem_proj.weight", "tem_emb.weight"],
    "box": ["ref_proj_double.weight"],
    "mem": ["msk_proj.0.weight", "msk_proj.2.weight"],
    "lm": ["model.language_model.embed_tokens.weight", "model.language_model.layers.0.self_attn.q_proj.weight"],
}


def run_step(model, processor, sample):
    batch = processor.collate([processor(sample)])
    out = model(**model_inputs(batch))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    for name, grad in grads.items():
        if grad is not None:
            assert torch.isfinite(grad).all(), name
    return out, grads


def assert_reached(grads, groups):
    for group in groups:
        for name in HEADS[group]:
            assert grads[name] is not None and grads[name].abs().sum() > 0, f"no gradient reaches {name}"


def assert_untouched(grads, groups):
    for group in groups:
        for name in HEADS[group]:
            assert grads[name] is None or grads[name].abs().sum() == 0, f"unexpected gradient at {name}"


def test_image_seg(tiny_model, processor):
    frames = random_frames(1, 96, 128)
    conv = [
        {"role": "user", "content": "Please segment the red circle in this image."},
        {"role": "assistant", "content": "The target is <|seg|>."},
    ]
    masks = box_masks(1, 96, 128, [(10, 20, 60, 70)])
    out, grads = run_step(tiny_model, processor, Sample("img", "unit", frames, conv, seg_masks=masks))
    assert out.mask_loss > 0 and out.lm_loss > 0
    assert torch.allclose(out.loss, out.lm_loss + out.mask_loss)
    assert_reached(grads, ["seg", "lm"])
    assert_untouched(grads, ["ref", "mem"])


def test_video_seg_supervises_every_frame(tiny_model, processor, monkeypatch):
    frames = random_frames(8)
    conv = [
        {"role": "user", "content": "Track the blue square in this video."},
        {"role": "assistant", "content": "Sure, it is <|seg|>."},
    ]
    masks = box_masks(8, 120, 160, [(20, 30, 60, 80)])
    seen = {}
    original = tiny_model.sam2.track

    def spy(*args, **kwargs):
        outs = original(*args, **kwargs)
        seen["frames"] = len(outs)
        seen["shape"] = tuple(outs[-1].multimask_logits.shape)
        return outs

    monkeypatch.setattr(tiny_model.sam2, "track", spy)
    out, grads = run_step(tiny_model, processor, Sample("vid", "unit", frames, conv, seg_masks=masks))
    assert seen == {"frames": 8, "shape": (1, 3, 128, 128)}
    assert_reached(grads, ["seg"])


@pytest.mark.parametrize("num_frames", [1, 6])
def test_ref_points_and_boxes(tiny_model, processor, num_frames):
    frames = random_frames(num_frames)
    last = num_frames - 1
    conv = [
        {"role": "user", "content": "Give me a short description of [0] <|ref|> and [1] <|ref|>."},
        {"role": "assistant", "content": "[0] is a red circle and [1] is a blue square."},
    ]
    prompts = np.array([[0, 40, 50, 0, 0, 0], [1, 10, 20, 90, 100, last]], dtype=np.float32)
    out, grads = run_step(tiny_model, processor, Sample("ref", "unit", frames, conv, ref_prompts=prompts))
    assert out.get("mask_loss") is None
    assert_reached(grads, ["ref", "box", "lm"])
    assert_untouched(grads, ["seg", "mem"])


def test_mem_injection(tiny_model, processor):
    frames = random_frames(4)
    # object 0 on all frames (2 temporal groups), object 1 only on the last two frames (group 1)
    masks = box_masks(4, 120, 160, [(10, 10, 50, 50), (80, 60, 140, 110)], frames_present=[range(4), [2, 3]])
    conv = [
        {
            "role": "user",
            "content": "Here is a video with 4 frames denoted as <1> to <4>. The highlighted regions are as follows:\n"
            "[0]: <1>-<2> <|mem|> <3>-<4> <|mem|>\n[1]: <3>-<4> <|mem|>\nWhat is [0] doing?",
        },
        {"role": "assistant", "content": "It moves right."},
    ]
    out, grads = run_step(tiny_model, processor, Sample("mem", "unit", frames, conv, refer_masks=masks))
    assert_reached(grads, ["mem", "lm"])
    assert_untouched(grads, ["seg", "ref"])


def test_three_objects_with_ref_mem_and_seg(tiny_model, processor):
    frames = random_frames(6)
    masks = box_masks(6, 120, 160, [(10, 10, 40, 40), (60, 20, 100, 70), (20, 80, 70, 115)])
    conv = [
        {
            "role": "user",
            "content": "Here is a video with 6 frames denoted as <1> to <6>. The highlighted regions are as follows:\n"
            "[2]: <1>-<2> <|mem|> <3>-<4> <|mem|> <5>-<6> <|mem|>\n"
            "Which is larger, [0] <|ref|> or [1] <|ref|>? Please localize the relevant objects with IDs.",
        },
        {"role": "assistant", "content": "[0] <|seg|> [1] <|seg|> [2] <|seg|>"},
    ]
    prompts = np.array([[0, 20, 20, 0, 0, 0], [1, 62, 22, 98, 68, 2]], dtype=np.float32)
    sample = Sample("multi", "unit", frames, conv, ref_prompts=prompts, refer_masks=masks[2:], seg_masks=masks)
    out, grads = run_step(tiny_model, processor, sample)
    assert out.mask_loss > 0
    assert_reached(grads, ["seg", "ref", "box", "mem", "lm"])


def test_sample_objects_limits_mask_loss(tiny_model, processor, monkeypatch):
    tiny_model.config.sample_objects = 2
    frames = random_frames(2)
    masks = box_masks(2, 120, 160, [(10, 10, 40, 40), (60, 20, 100, 70), (20, 80, 70, 115)])
    conv = [
        {"role": "user", "content": "Please segment all shapes."},
        {"role": "assistant", "content": "<|seg|> <|seg|> <|seg|>"},
    ]
    counts = []
    original = tiny_model.sam2.track
    monkeypatch.setattr(
        tiny_model.sam2,
        "track",
        lambda f, h, *a, **k: counts.append(h.shape[0]) or original(f, h, *a, **k),
    )
    run_step(tiny_model, processor, Sample("s", "unit", frames, conv, seg_masks=masks))
    assert counts == [2]


def test_batch_of_two_rows(tiny_model, processor):
    conv_seg = [
        {"role": "user", "content": "Please segment the red circle in this image."},
        {"role": "assistant", "content": "<|seg|>."},
    ]
    conv_text = [{"role": "user", "content": "Describe it."}, {"role": "assistant", "content": "Two shapes."}]
    a = processor(
        Sample("a", "unit", random_frames(1, 96, 128), conv_seg, seg_masks=box_masks(1, 96, 128, [(5, 5, 50, 50)]))
    )
    b = processor(Sample("b", "unit", random_frames(3, seed=1), conv_text))
    batch = processor.collate([a, b])
    out = tiny_model(**model_inputs(batch))
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.mask_loss > 0


def test_seg_count_mismatch_is_a_clear_error(tiny_model, processor):
    conv = [{"role": "user", "content": "Segment both."}, {"role": "assistant", "content": "<|seg|> <|seg|>"}]
    item = processor(
        Sample("x", "unit", random_frames(1, 96, 128), conv, seg_masks=box_masks(1, 96, 128, [(1, 1, 9, 9)] * 2))
    )
    batch = processor.collate([item])
    batch["seg_masks"] = [batch["seg_masks"][0][:1]]
    with pytest.raises(ValueError, match="2 <\\|seg\\|> tokens but 1 ground-truth objects"):
        tiny_model(**model_inputs(batch))


def test_ref_count_mismatch_is_a_clear_error(tiny_model, processor):
    conv = [{"role": "user", "content": "What is [0] <|ref|> and [1] <|ref|>?"}]
    prompts = np.array([[0, 5, 5, 0, 0, 0], [0, 9, 9, 0, 0, 0]], dtype=np.float32)
    item = processor(Sample("x", "unit", random_frames(2), conv, ref_prompts=prompts))
    batch = processor.collate([item])
    batch["ref_prompts"] = [batch["ref_prompts"][0][:1]]
    with pytest.raises(ValueError, match="batch row 0: 2 <\\|ref\\|> tokens but 1 visual prompts"):
        tiny_model(**model_inputs(batch))
    with pytest.raises(ValueError, match="unit/x: 2 <\\|ref\\|> tokens but 1 visual prompts"):
        processor(Sample("x", "unit", random_frames(2), conv, ref_prompts=prompts[:1]))


def test_mem_count_mismatch_is_a_clear_error(tiny_model, processor):
    masks = box_masks(2, 120, 160, [(10, 10, 50, 50)])
    conv = [{"role": "user", "content": "[0]: <|mem|> <|mem|> what is it?"}]
    with pytest.raises(ValueError, match="2 <\\|mem\\|> tokens but the masks give 1"):
        processor(Sample("m", "unit", random_frames(2), conv, refer_masks=masks))


def test_rows_are_batched_through_sam2_like_one_by_one(tiny_model, processor, monkeypatch):
    """Two samples in one batch share the SAM 2 pass; their losses equal those of separate forwards."""
    tiny_model.eval()  # no dropout: the batched and separate passes must agree exactly
    conv = [
        {"role": "user", "content": "Please segment the red circle and the blue square."},
        {"role": "assistant", "content": "<|seg|> and <|seg|>"},
    ]
    samples = [
        Sample(
            f"b{i}",
            "unit",
            random_frames(3, seed=i),
            conv,
            seg_masks=box_masks(3, 120, 160, [(5 + 9 * i, 5, 40, 60), (70, 30, 120, 90)]),
        )
        for i in range(2)
    ]
    items = [processor(s) for s in samples]
    calls = []
    original = tiny_model.sam2.encode_frames
    monkeypatch.setattr(tiny_model.sam2, "encode_frames", lambda x, **k: calls.append(x.shape[0]) or original(x, **k))
    with torch.no_grad():
        together = tiny_model(**model_inputs(processor.collate(items)))
        assert calls == [6], "one image-encoder call for both samples' 3 frames"
        separate = [tiny_model(**model_inputs(processor.collate([item]))).mask_loss for item in items]
    torch.testing.assert_close(together.mask_loss, torch.stack(separate).mean(), atol=1e-5, rtol=1e-5)


def test_single_mask_sam2_trains_and_decodes(tiny_tokenizer, processor):
    """`tiny_config(sam2_multimask=False)` (the toy recipe's SAM 2): one candidate per frame in training and
    inference, the mask loss reaches the decoder and the `<|seg|>` head, and the decoded mask is that candidate."""
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.model.tiny import tiny_config

    torch.manual_seed(0)
    model = PixelQwen2_5_VLForConditionalGeneration(tiny_config(tiny_tokenizer, sam2_multimask=False))
    frames = random_frames(4, 96, 128)
    conv = [
        {"role": "user", "content": "Track the red circle in this video."},
        {"role": "assistant", "content": "The red circle<|seg|>."},
    ]
    masks = box_masks(4, 96, 128, [(10, 20, 60, 70)])
    out, grads = run_step(model, processor, Sample("vid", "unit", frames, conv, seg_masks=masks))
    assert out.mask_loss > 0
    assert_reached(grads, ["seg"])
    clip = torch.randn(3, 3, 128, 128)
    hidden = torch.randn(2, model.config.sam2_hidden_tokens, 256)
    with torch.no_grad():
        feats = model.sam2.encode_frames(clip)
        outs = model.sam2.track(feats, hidden, False, clip_index=torch.zeros(2, dtype=torch.long), num_frames=3)
    assert all(o.multimask_logits.shape[:2] == (2, 1) and o.ious.shape == (2, 1) for o in outs)
    assert torch.equal(outs[0].best_logits, outs[0].multimask_logits)
