"""Tiny random-init UniPixel for tests and the toy pipeline: a few-layer Qwen2.5-VL, a small SAM 2.1 Hiera and a
byte-level BPE tokenizer trained locally (no hub access), all built through the same classes as the real model.
"""

from __future__ import annotations

import itertools
import os

from .configuration import PixelQwen2_5_VLConfig

QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
PIXEL_SPECIAL_TOKENS = ["<|ref|>", "<|seg|>", "<|mem|>"]

# SAM 2.1 Hiera-T shrunk until a train step takes well under a second on a CPU (docs/toy.md).
TINY_SAM2_CONFIG = "sam2.1_hiera_t"
TINY_SAM2_IMAGE_SIZE = 128


def tiny_sam2_overrides(embed_dim: int = 32) -> list[str]:
    e = embed_dim
    return [
        f"model.image_encoder.trunk.embed_dim={e}",
        "model.image_encoder.trunk.num_heads=1",
        "model.image_encoder.trunk.stages=[1,1,2,1]",
        "model.image_encoder.trunk.global_att_blocks=[3]",
        "model.image_encoder.trunk.window_spec=[8,4,4,2]",
        "model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[4,4]",
        f"model.image_encoder.neck.backbone_channel_list=[{8 * e},{4 * e},{2 * e},{e}]",
        "model.memory_attention.num_layers=1",
        "model.memory_attention.layer.dim_feedforward=256",
        "model.memory_encoder.fuser.num_layers=1",
    ]


_TOY_WORDS = """
small large big bigger smaller left right top bottom middle centre center up down still enter enters entering leave
leaves leaving move moves moving moved stay stays staying shape shapes circle circles square squares triangle triangles
diamond diamonds star stars red green blue yellow colour color corners corner sides side flat round perfectly exactly
three four ten no banana strawberry ripe fresh grass leaf sky sea deep clear sun fire truck edge heading rising falling
towards toward never changes change position view comes disappears disappear during before after end beginning
something thing looking looks look like has have other others all same scene picture image video frame frames
highlighted region regions object objects target segmentation mask masks result sure please segment track find where
which what who how many answer question questions options option best only give short brief briefly describe
description detailed detail details caption tell explain provide output respond analyze characterize depict summarize
offer write name show observe carefully concise concisely comprehensive comprehensively thorough thoroughly precise
quick rich full relative direction directions appearance attributes sentence phrase words query reason because while
during keep keeps built basic neither none future sequential relationship reasoning identifiers including different
possible needed useful example associate answering segmenting corresponding mentioned described describing explanation
explicitly content contain most much some each few way would will your its by from for also but not do does be am at
on an a the to of in is it this that there are with and or one two
"""


def _corpus() -> list[str]:
    colours = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black", "cyan", "pink"]
    shapes = ["circle", "square", "triangle", "star", "diamond", "hexagon", "ellipse", "cross", "object", "shape"]
    moves = ["moving left", "moving right", "moving up", "moving down", "staying still", "entering", "leaving"]
    lines = [
        "You are a helpful assistant.",
        "Please segment the {} in this image.",
        "Please segment the {} in this video.",
        "Can you segment the {} in this image?",
        "Track the {} in this video.",
        "The target is <|seg|>. The segmentation result is <|seg|>. Sure, the segmentation mask is <|seg|>.",
        "Sure, it is <|seg|>. Please provide the segmentation mask and explain why.",
        "Please answer the question and provide the segmentation mask.",
        "Please segment the object according to the description:",
        "Here is a video with 16 frames denoted as <1> to <16>. The highlighted regions are as follows:",
        "Here is an image with the following highlighted regions:",
        "[0]: <1>-<2> <|mem|> <3>-<4> <|mem|> [1]: <|mem|> [2] <|ref|> [3] <|ref|>",
        "Please localize the relevant objects with IDs. Options: (A) (B) (C) (D)",
        "Please only give the best option. The best option is (A). Best Option: (B)",
        "Give me a short description of <|ref|>. What is the colour of [0]? Which shape is larger?",
        "Please give a detailed description of the highlighted object [0] in the video.",
        "Question: how many shapes are there? Answer: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
    ]
    # the words of the toy data and of the prompt templates, so that each is one token (a character-level split would
    # leave the 2-layer LLM to assemble words before it can tell a red circle from a blue one)
    lines += [" ".join([w, w.lower(), w.capitalize()]) for w in _TOY_WORDS.split()]
    for colour, shape in itertools.product(colours, shapes):
        lines.append(f"the {colour} {shape} is a {colour} {shape}. A {colour} {shape}.")
    for colour, move in itertools.product(colours, moves):
        lines.append(f"the {colour} shape {move}. which object is {move}? The one that is {colour}.")
    return lines


def build_tiny_tokenizer(save_dir: str | None = None, vocab_size: int = 2048):
    """A byte-level BPE tokenizer with Qwen's special tokens plus `<|ref|>`, `<|seg|>`, `<|mem|>`, trained in memory.

    Deterministic (fixed corpus and trainer settings); saved with `save_pretrained` when `save_dir` is given.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
        special_tokens=[],
    )
    core.train_from_iterator(_corpus(), trainer=trainer)
    core.add_special_tokens(QWEN_SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=32768,
        padding_side="right",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": PIXEL_SPECIAL_TOKENS})
    if save_dir is not None:
        os.makedirs(save_dir, exist_ok=True)
        tokenizer.save_pretrained(save_dir)
    return tokenizer


def tiny_config(
    tokenizer=None,
    sam2_image_size: int = TINY_SAM2_IMAGE_SIZE,
    sam2_multimask: bool = True,
    llm_local_window: int | None = None,
    **overrides,
) -> PixelQwen2_5_VLConfig:
    """Config of the tiny UniPixel: 2-layer LLM (hidden 64), 2-block ViT (hidden 32), tiny SAM 2.1 at 128 px.

    Token ids come from `tokenizer` (the tiny one by default); `overrides` set any top-level config field.
    `sam2_multimask=False` makes SAM 2 emit one mask per frame instead of three candidates: trained from scratch with
    the best-of-three loss, SAM 2 can lower the loss by spreading its candidates over different objects without
    reading the `<|seg|>` prompt at all (see docs/toy.md); the released SAM 2.1 keeps three.
    `llm_local_window=w` makes the LLM's last layer attend to the last `w` tokens only (Qwen2's sliding-window
    attention; the first layer keeps full attention), so the state before `<|seg|>` mixes the words just before it
    instead of averaging over the whole prompt (docs/toy.md); the released models attend to everything.
    """
    tokenizer = tokenizer or build_tiny_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS + PIXEL_SPECIAL_TOKENS}
    vocab = (len(tokenizer) + 63) // 64 * 64
    text = dict(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-6,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True,
    )
    if llm_local_window is not None:
        if llm_local_window < 1:
            raise ValueError(f"llm_local_window must be a positive number of tokens, got {llm_local_window}")
        text.update(
            use_sliding_window=True,
            sliding_window=int(llm_local_window),
            layer_types=["full_attention"] * (text["num_hidden_layers"] - 1) + ["sliding_attention"],
        )
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=64,
        fullatt_block_indexes=[1],
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        tokens_per_second=2,
    )
    fields = dict(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
        sam2_config=TINY_SAM2_CONFIG,
        sam2_image_size=sam2_image_size,
        sam2_overrides=tiny_sam2_overrides() + ([] if sam2_multimask else ["model.multimask_output_in_sam=false"]),
        sam2_drop_path=0.0,
        ref_token_id=ids["<|ref|>"],
        seg_token_id=ids["<|seg|>"],
        mem_token_id=ids["<|mem|>"],
        mem_token_order="raster",
        # new training from scratch: gradients through SAM 2's rotary encoding, as stock SAM 2 (D2, docs/fidelity.md)
        sam2_rope_grad=True,
        sample_objects=-1,
    )
    fields.update(overrides)
    return PixelQwen2_5_VLConfig(**fields)
