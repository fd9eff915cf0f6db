"""Generation with masks, `<|seg|>` index alignment, and the PixelQA two-round flow."""

import numpy as np
import torch

from tests.helpers import box_masks, force_token, random_frames
from unipixel.data.processor import Sample, model_inputs


def prompt_inputs(processor, sample, add_generation_prompt=True):
    batch = processor.collate([processor(sample, add_generation_prompt=add_generation_prompt)])
    inputs = model_inputs(batch)
    inputs.pop("labels")
    return inputs, inputs.pop("sam2_frames"), batch["frame_sizes"]


def test_generate_returns_text_and_masks(tiny_model, processor, tiny_tokenizer):
    model = tiny_model.eval()
    seg = model.config.seg_token_id
    force_token(model, seg)
    frames = random_frames(5)
    sample = Sample("g", "unit", frames, [{"role": "user", "content": "Please segment the red circle in this video."}])
    inputs, sam2_frames, sizes = prompt_inputs(processor, sample)
    out = model.generate(**inputs, sam2_frames=sam2_frames, frame_sizes=sizes, max_new_tokens=3, do_sample=False)
    prompt_len = inputs["input_ids"].shape[1]
    new = out.sequences[0, prompt_len:]
    assert (new == seg).all(), "the forced token should be generated"
    text = tiny_tokenizer.decode(new)
    assert text == "<|seg|>" * 3
    assert out.seg_positions[0] == [prompt_len, prompt_len + 1, prompt_len + 2]
    masks = out.masks[0]
    assert masks.shape == (3, 5, 120, 160) and masks.dtype == torch.bool
    assert out.mask_scores[0].shape == (3, 5)


def test_generate_seg_hidden_matches_teacher_forcing(tiny_model, processor):
    """The state collected for a generated `<|seg|>` is the one a teacher-forced forward sees before that token."""
    model = tiny_model.eval()
    seg = model.config.seg_token_id
    force_token(model, seg)
    sample = Sample("g", "unit", random_frames(2), [{"role": "user", "content": "Segment it."}])
    inputs, sam2_frames, sizes = prompt_inputs(processor, sample)
    out = model.generate(**inputs, sam2_frames=sam2_frames, frame_sizes=sizes, max_new_tokens=2, do_sample=False)
    full = dict(inputs)
    full["input_ids"] = out.sequences
    full["attention_mask"] = torch.ones_like(out.sequences)
    pad = out.sequences.shape[1] - inputs["mm_token_type_ids"].shape[1]
    full["mm_token_type_ids"] = torch.nn.functional.pad(inputs["mm_token_type_ids"], (0, pad))
    masks = model.segment_prompted(sam2_frames, sizes, **full)
    assert torch.equal(masks[0], out.masks[0])


def test_prompt_seg_tokens_are_decoded(tiny_model, processor):
    model = tiny_model.eval()
    conv = [
        {"role": "user", "content": "Please localize [0] <|ref|> and [1] <|ref|> with IDs."},
        {"role": "assistant", "content": "[0] <|seg|> [1] <|seg|>"},
    ]
    prompts = np.array([[0, 30, 30, 0, 0, 0], [1, 60, 40, 120, 100, 1]], dtype=np.float32)
    sample = Sample("p", "unit", random_frames(4), conv, ref_prompts=prompts)
    inputs, sam2_frames, sizes = prompt_inputs(processor, sample, add_generation_prompt=False)
    masks = model.segment_prompted(sam2_frames, sizes, **inputs)
    assert masks[0].shape == (2, 4, 120, 160)
    gen = model.generate(**inputs, sam2_frames=sam2_frames, frame_sizes=sizes, max_new_tokens=1, do_sample=False)
    assert len(gen.seg_positions[0]) >= 2
    assert torch.equal(gen.masks[0][:2], masks[0]), "prompt <|seg|> masks equal the teacher-forced ones"


def test_seg_positions_are_the_states_before_seg(tiny_model):
    seg = tiny_model.config.seg_token_id
    ids = torch.tensor([[5, 6, seg, 7, seg], [5, seg, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    assert tiny_model.seg_positions(ids, mask).tolist() == [[0, 1], [0, 3], [1, 0]]


def test_two_round_pixelqa(tiny_model, processor, tiny_tokenizer):
    model = tiny_model.eval()
    frames = random_frames(4)
    question = "What is [0] doing?\nOptions:\n(A) moving\n(B) still"
    conv1 = [
        {"role": "user", "content": question.replace("[0]", "[0] <|ref|>") + " Please localize the relevant objects."},
        {"role": "assistant", "content": "[0] <|seg|>"},
    ]
    prompts = np.array([[1, 20, 20, 70, 70, 0]], dtype=np.float32)
    first, sam2_frames, sizes = prompt_inputs(processor, Sample("q", "unit", frames, conv1, ref_prompts=prompts), False)
    grid = first["video_grid_thw"][0]
    calls = {}

    def build_second(presence):
        calls["presence"] = presence.clone()
        lines = []
        for obj, groups in enumerate(presence):
            entries = " ".join(f"<{2 * g + 1}>-<{2 * g + 2}> <|mem|>" for g in groups.nonzero().flatten().tolist())
            lines.append(f"[{obj}]: {entries}")
        text = (
            "Here is a video with 4 frames.\n" + "\n".join(lines) + f"\n{question}\nPlease only give the best option."
        )
        conv2 = [
            {"role": "user", "content": text},
            {"role": "assistant", "content": "The best option is (", "open": True},
        ]
        item = processor(Sample("q2", "unit", frames, conv2), with_sam2=False)
        batch = processor.collate([item])
        inputs = model_inputs(batch)
        inputs.pop("labels")
        return inputs

    masks, answer = model.two_round(
        first, build_second, sam2_frames[0], grid, frame_size=sizes[0], max_new_tokens=4, do_sample=False
    )
    assert masks.shape == (1, 4, 120, 160)
    presence = calls["presence"]
    assert presence.shape == (1, 2)
    assert presence.all(), "an empty pass-1 mask falls back to the full frame, so every group has a <|mem|>"
    assert answer.sequences.shape[1] > 0
    assert tiny_tokenizer.decode(answer.sequences[0]).count("<|mem|>") == int(presence.sum())


def test_two_round_uses_pass_one_masks(tiny_model, processor, monkeypatch):
    """The refer_mask of pass 2 is built from the pass-1 masks (an object absent from one group loses that entry)."""
    model = tiny_model.eval()
    frames = random_frames(4)
    fake = torch.from_numpy(box_masks(4, 120, 160, [(10, 10, 50, 50)], frames_present=[[2, 3]]))
    monkeypatch.setattr(model, "segment_prompted", lambda *a, **k: [fake])
    captured = {}

    def build_second(presence):
        captured["presence"] = presence
        conv = [{"role": "user", "content": "[0]: <3>-<4> <|mem|>\nWhat is it?"}]
        inputs = model_inputs(processor.collate([processor(Sample("q2", "unit", frames, conv), with_sam2=False)]))
        inputs.pop("labels")
        return inputs

    grid = processor.visual_inputs(torch.from_numpy(frames))["grid_thw"]
    model.two_round({}, build_second, torch.zeros(4, 3, 128, 128), grid, max_new_tokens=1, do_sample=False)
    assert captured["presence"].tolist() == [[False, True]]
