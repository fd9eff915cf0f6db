"""`tiny_config(llm_local_window=w)`: the tiny LLM's last layer attends to the last `w` tokens only."""

import pytest
import torch

from tests.helpers import random_frames
from tests.model.test_generate import prompt_inputs
from unipixel.data.processor import Sample


def windowed_model(tiny_tokenizer, window, attn="sdpa"):
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.model.tiny import tiny_config

    config = tiny_config(tiny_tokenizer, llm_local_window=window)
    config.text_config._attn_implementation = attn
    torch.manual_seed(0)
    return PixelQwen2_5_VLForConditionalGeneration(config).eval()


def test_last_layer_attends_within_the_window(tiny_tokenizer):
    model = windowed_model(tiny_tokenizer, 3, attn="eager")
    assert model.config.text_config.layer_types == ["full_attention", "sliding_attention"]
    ids = torch.randint(10, 200, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model.model.language_model(input_ids=ids, output_attentions=True)
    first, last = out.attentions[0][0, :, -1], out.attentions[1][0, :, -1]  # (heads, keys) of the last query
    assert (first > 0).all(), "the first layer keeps full causal attention"
    assert (last[:, -3:] > 0).all() and (last[:, :-3] == 0).all(), "the last layer sees the last 3 tokens only"
    # a token outside the last layer's window still reaches the last state through the first layer
    changed = ids.clone()
    changed[0, 1] = 201
    with torch.no_grad():
        other = model.model.language_model(input_ids=changed).last_hidden_state
    assert not torch.allclose(other[0, -1], out.last_hidden_state[0, -1])


def test_sdpa_applies_the_window_like_eager(tiny_tokenizer):
    ids = torch.randint(10, 200, (2, 16), generator=torch.Generator().manual_seed(1))
    states = []
    for attn in ("eager", "sdpa"):
        with torch.no_grad():
            states.append(windowed_model(tiny_tokenizer, 4, attn).model.language_model(input_ids=ids).last_hidden_state)
    full = windowed_model(tiny_tokenizer, None).model.language_model
    with torch.no_grad():
        unwindowed = full(input_ids=ids).last_hidden_state
    torch.testing.assert_close(states[0], states[1], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(states[1][:, -1], unwindowed[:, -1]), "same weights, the window changes the result"


def test_generation_with_a_window_matches_teacher_forcing(tiny_tokenizer, processor):
    """Cached greedy decoding past the window picks the tokens a full forward of the result would pick."""
    model = windowed_model(tiny_tokenizer, 2)
    sample = Sample("w", "unit", random_frames(2), [{"role": "user", "content": "Describe the red circle."}])
    inputs, sam2_frames, sizes = prompt_inputs(processor, sample)
    out = model.generate(**inputs, sam2_frames=sam2_frames, frame_sizes=sizes, max_new_tokens=6, do_sample=False)
    prompt_len = inputs["input_ids"].shape[1]
    full = dict(inputs)
    full["input_ids"] = out.sequences
    full["attention_mask"] = torch.ones_like(out.sequences)
    pad = out.sequences.shape[1] - inputs["mm_token_type_ids"].shape[1]
    full["mm_token_type_ids"] = torch.nn.functional.pad(inputs["mm_token_type_ids"], (0, pad))
    with torch.no_grad():
        logits = model(**full).logits
    expected = logits[0, prompt_len - 1 : -1].argmax(-1)
    assert torch.equal(out.sequences[0, prompt_len:], expected[: out.sequences.shape[1] - prompt_len])


def test_bad_window_is_refused(tiny_tokenizer):
    from unipixel.model.tiny import tiny_config

    with pytest.raises(ValueError, match="llm_local_window"):
        tiny_config(tiny_tokenizer, llm_local_window=0)
