"""Prompt wording: pool sizes of docs/design.md §4.5, fixed evaluation wording, query normalisation, answer formats."""

import numpy as np
import pytest

from unipixel.data import templates as T


def test_pool_sizes():
    assert len(T.IMAGE_QUERY_PROMPTS) == len(T.VIDEO_QUERY_PROMPTS) == 7
    assert len(T.SENTENCE_PROMPTS) == len(T.EXPLANATORY_PROMPTS) == len(T.QUESTION_PROMPTS) == 5
    assert len(T.DESCRIPTION_PROMPTS) == len(T.SEG_ANSWERS) == 5
    assert len(T.MEMORY_PROMPTS) == 6 and len(T.REF_SHORT_CAPTION_PROMPTS) == 24 and len(T.REGION_DETAIL_PROMPTS) == 30
    assert all(a.count(T.SEG) == 1 for a in T.SEG_ANSWERS)
    assert len(set(T.REF_SHORT_CAPTION_PROMPTS)) == 24 and len(set(T.REGION_DETAIL_PROMPTS)) == 30


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("The man on the left.", "man on the left"),
        ("A red car", "red car"),
        ("an apple.", "apple"),
        ("theater seats", "theater seats"),
        ("Zebra", "zebra"),
        ("  the dog ", "dog"),
    ],
)
def test_normalize_query(raw, norm):
    assert T.normalize_query(raw) == norm


def test_eval_wording():
    assert T.seg_question("query", "The dog.", False, None) == "Please segment the dog in this image."
    assert T.seg_question("query", "a cat", True, None) == "Please segment the cat in this video."
    assert T.seg_question("sentence", "Hot?", rng=None) == "Hot? Please provide the segmentation mask."
    assert (
        T.seg_question("explanatory", "Why?", rng=None) == "Why? Please provide the segmentation mask and explain why."
    )
    assert (
        T.seg_question("question", "Who runs?", rng=None)
        == "Who runs? Please answer the question and provide the segmentation mask."
    )
    assert (
        T.seg_question("description", "A man in red.", rng=None)
        == "Please segment the object according to the description: A man in red."
    )
    with pytest.raises(ValueError, match="unknown"):
        T.seg_question("caption", "x")


def test_training_pools_are_drawn_uniformly():
    rng = np.random.default_rng(0)
    seen = {T.seg_question("query", "dog", False, rng) for _ in range(300)}
    assert seen == {t.format("dog") for t in T.IMAGE_QUERY_PROMPTS}
    answers = {T.seg_answer("query", rng) for _ in range(200)}
    assert answers == set(T.SEG_ANSWERS)


def test_answers():
    assert T.seg_answer("question", None, "The boy.") == f"The boy. {T.SEG}."
    assert T.seg_answer("explanatory", None, "Because.") == f"The target is {T.SEG}. Because."
    with pytest.raises(ValueError):
        T.seg_answer("question", None, None)
    assert T.part_query("dog", "leg", None) == "dog leg"
    rng = np.random.default_rng(0)
    assert {T.part_query("dog", "leg", rng) for _ in range(50)} == {"dog leg", "leg of the dog"}


def test_memory_prefix_layout():
    video = T.memory_prefix({0: [0, 1], 1: [1]}, num_frames=4)
    assert video == (
        "Here is a video with 4 frames denoted as <1> to <4>. The highlighted regions are as follows:\n"
        f"[0]: <1>-<2> {T.MEM} <3>-<4> {T.MEM}\n[1]: <3>-<4> {T.MEM}\n"
    )
    assert T.memory_prefix({2: [0]}) == f"Here is an image with the following highlighted regions:\n[2]: {T.MEM}\n"
    assert T.options_text(["x", "y"]) == "\nOptions:\n(A) x\n(B) y"
