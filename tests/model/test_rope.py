"""D4: 3-D rotary positions of a video sampled below 1 fps, by the rule the released model was trained with.

Expected ids are written out by hand from the rule (docs/fidelity.md, D4): a video's temporal group g sits at
`start + g * int(second_per_grid_ts) * tokens_per_second`, its merged-token rows / columns at `start + row` /
`start + column`, and text after it continues at the largest id it used + 1.
"""

from __future__ import annotations

import numpy as np
import torch

from unipixel.model.rope import mrope_position_ids

# 3 text tokens, a video of 3 temporal groups on a 4 x 4 patch grid (2 x 2 merged tokens per group), 2 text tokens
KINDS = [0, 0, 0] + [2] * 12 + [0, 0]
GRID = torch.tensor([[3, 4, 4]])
SAMPLE_FPS = 0.8  # 16 frames over 20 s: 2 / 0.8 = 2.5 s per temporal group

H = [3, 3, 4, 4]  # rows of the 2 x 2 merged tokens, offset by the video's start (3)
W = [3, 4, 3, 4]
RELEASED = {  # int(2.5) = 2 s per group, x 2 tokens per second: temporal step 4; text after at max(3 + 8, 4) + 1
    "t": [0, 1, 2] + [3] * 4 + [7] * 4 + [11] * 4 + [12, 13],
    "h": [0, 1, 2] + H * 3 + [12, 13],
    "w": [0, 1, 2] + W * 3 + [12, 13],
    "delta": 14 - 17,
}
TRANSFORMERS_5 = {  # transformers 5.25: 2.5 x 2 = 5 per group; text after at 3 + max(4, 4) / 2 = 5
    "t": [0, 1, 2] + [3] * 4 + [8] * 4 + [13] * 4 + [5, 6],
    "h": [0, 1, 2] + H * 3 + [5, 6],
    "w": [0, 1, 2] + W * 3 + [5, 6],
    "delta": 14 - 17,
}


def ids_of(expected: dict) -> torch.Tensor:
    return torch.tensor([expected["t"], expected["h"], expected["w"]]).unsqueeze(1)


def inputs(tiny_cfg) -> dict:
    kinds = torch.tensor([KINDS])
    input_ids = torch.full_like(kinds, 100)
    input_ids[kinds == 2] = tiny_cfg.video_token_id
    return dict(
        input_ids=input_ids,
        mm_token_type_ids=kinds,
        video_grid_thw=GRID,
        second_per_grid_ts=torch.tensor([2 / SAMPLE_FPS]),
        attention_mask=torch.ones_like(kinds),
    )


def test_released_rule_by_hand():
    kinds = torch.tensor([KINDS])
    ids, delta = mrope_position_ids(
        kinds, kinds, None, GRID, torch.tensor([2 / SAMPLE_FPS]), None, spatial_merge_size=2, tokens_per_second=2
    )
    assert torch.equal(ids, ids_of(RELEASED))
    assert delta.tolist() == [[RELEASED["delta"]]]


def test_released_rule_with_left_padding_and_two_rows():
    kinds = torch.tensor([[0, 0] + KINDS, KINDS + [0, 0]])
    mask = torch.tensor([[0, 0] + [1] * len(KINDS), [1] * (len(KINDS) + 2)])
    ids, delta = mrope_position_ids(
        kinds, kinds, None, GRID.repeat(2, 1), torch.tensor([2.5, 1.0]), mask, spatial_merge_size=2, tokens_per_second=2
    )
    assert torch.equal(ids[:, 0, 2:], ids_of(RELEASED)[:, 0])
    # second row: 1 s per group -> step 2: groups at 3, 5, 7; text after at max(7, 4) + 1 = 8
    assert ids[0, 1].tolist() == [0, 1, 2] + [3] * 4 + [5] * 4 + [7] * 4 + [8, 9, 10, 11]
    assert delta.tolist() == [[RELEASED["delta"]], [12 - 19]]


def test_model_uses_the_released_rule(tiny_model, tiny_cfg):
    ids, delta = tiny_model.model.get_rope_index(**inputs(tiny_cfg))
    assert torch.equal(ids, ids_of(RELEASED))
    assert delta.tolist() == [[RELEASED["delta"]]]


def test_transformers_rule_defers_to_the_installed_transformers(tiny_model, tiny_cfg):
    """`mrope_rule="transformers"` is whatever the installed transformers computes (its rule changed within 5.x:
    5.25 gives TRANSFORMERS_5 above, 5.17 already casts the seconds per group to an integer), so it is compared with
    transformers' own method rather than with fixed numbers."""
    stock = type(tiny_model.model).get_rope_index
    tiny_model.config.mrope_rule = (
        "transformers"  # the config object is shared by the session's tiny models: restore it
    )
    try:
        ids, delta = tiny_model.model.get_rope_index(**inputs(tiny_cfg))
    finally:
        tiny_model.config.mrope_rule = "released"
    want_ids, want_delta = stock(tiny_model.model, **inputs(tiny_cfg))
    assert torch.equal(ids, want_ids) and torch.equal(delta, want_delta)
    if transformers_version() >= (5, 25):
        assert torch.equal(ids, ids_of(TRANSFORMERS_5))
    # every 5.x continues the text at start + max(h, w) / merge = 3 + 4 / 2, not past the video's temporal extent
    assert ids[:, 0, -2].tolist() == [5, 5, 5] and RELEASED["t"][-2] == 12


def transformers_version() -> tuple[int, int]:
    import transformers

    major, minor = transformers.__version__.split(".")[:2]
    return int(major), int(minor)


def test_processor_sends_seconds_per_group_from_the_sampling_rate(processor, tiny_model):
    from unipixel.data.processor import Sample

    frames = np.random.default_rng(0).integers(0, 255, (16, 56, 56, 3), dtype=np.uint8)
    conv = [{"role": "user", "content": "What happens?"}, {"role": "assistant", "content": "A cat runs."}]
    file_sample = Sample("a", "x", frames, conv, meta={"sample_fps": SAMPLE_FPS, "llm_resize": "torch"})
    list_sample = Sample("b", "x", frames, conv)
    batch = processor.collate([processor(file_sample, with_sam2=False), processor(list_sample, with_sam2=False)])
    assert batch["second_per_grid_ts"].tolist() == [2.5, 1.0]
    ids, _ = tiny_model.model.get_rope_index(
        batch["input_ids"],
        mm_token_type_ids=batch["mm_token_type_ids"],
        video_grid_thw=batch["video_grid_thw"],
        second_per_grid_ts=batch["second_per_grid_ts"],
        attention_mask=batch["attention_mask"],
    )
    video = batch["mm_token_type_ids"][0] == 2
    temporal = ids[0, 0, video].unique()
    assert (temporal[1:] - temporal[:-1]).tolist() == [4] * 7  # int(2.5) * 2 per group, 8 groups
    text_after = ids[0, 0, int(video.nonzero().max()) + 1]
    assert text_after == ids[:, 0, video].max() + 1


def test_generation_continues_positions_consistently(tiny_model, processor):
    """Greedy tokens equal the arg-max of one teacher-forced forward over the whole sequence: every decode step got
    the position id that the full forward gives it (the deltas carry the video's temporal extent)."""
    from unipixel.data.processor import Sample, model_inputs

    frames = np.random.default_rng(1).integers(0, 255, (16, 56, 56, 3), dtype=np.uint8)
    conv = [{"role": "user", "content": "What happens?"}]
    sample = Sample("a", "x", frames, conv, meta={"sample_fps": 0.4, "llm_resize": "torch"})
    batch = processor.collate([processor(sample, add_generation_prompt=True, with_sam2=False)])
    kw = model_inputs(batch)
    kw.pop("labels")
    tiny_model.eval()
    out = tiny_model.generate(**kw, max_new_tokens=6, do_sample=False)
    sequence = out.sequences
    full = dict(kw, input_ids=sequence, attention_mask=torch.ones_like(sequence))
    full["mm_token_type_ids"] = torch.cat([kw["mm_token_type_ids"], torch.zeros(1, 6, dtype=torch.long)], dim=1)
    with torch.no_grad():
        logits = tiny_model(**full).logits
    prompt = kw["input_ids"].shape[1]
    assert torch.equal(logits[0, prompt - 1 : -1].argmax(-1), sequence[0, prompt:])
