"""Configuration of the UniPixel model (`model_type = "pixel_qwen2_5_vl"`).

The class extends transformers' `Qwen2_5_VLConfig` with every field the released UniPixel-3B/7B `config.json` carries
(the `sam2_*` switches, the special-token ids, `sample_objects`, ...), so a released checkpoint's config loads
unchanged, plus a few fields of our own (`mem_token_order`, `sam2_overrides`, loss weights) whose defaults reproduce
the released behaviour.
"""

from __future__ import annotations

from transformers import Qwen2_5_VLConfig

MEM_TOKEN_ORDERS = ("window", "raster")
SAM2_MASK_RESIZES = ("single", "two_step")
MROPE_RULES = ("released", "transformers")


class PixelQwen2_5_VLConfig(Qwen2_5_VLConfig):
    r"""Qwen2.5-VL config plus the UniPixel fields.

    Released fields (see the released `config.json`):
        sam2_config: name or path of the SAM 2.1 YAML. Any non-null value builds SAM 2 and the UniPixel heads.
            Released value `"configs/sam2.1_hiera_b+"` resolves to the `sam2` package's `sam2.1/sam2.1_hiera_b+.yaml`.
        sam2_checkpoint: official SAM 2.1 `.pt`, read only when initialising from the base Qwen2.5-VL.
        sam2_image_size: SAM 2 input resolution S (768). The mask-decoder grid is S/16.
        sam2_hidden_tokens: prompt tokens per `<|seg|>` (2); `seg_head` outputs `2 x 256`.
        sam2_batch_mode, sam2_apply_postprocessing, sam2_inference_mode: carried for compatibility; no effect here
            (inference always propagates through the whole clip, training always runs the train-time driver).
        sam2_enable_decoder: run SAM 2 on `<|seg|>` tokens inside `forward` (False in stage 1).
        sample_objects: at most this many `<|seg|>` objects get the mask loss per sample (-1: all).
        ref_token_id, seg_token_id, mem_token_id: ids of `<|ref|>`, `<|seg|>`, `<|mem|>`.

    Our fields:
        mem_token_order: `"window"` pools `<|mem|>` features in the vision tower's window order while indexing them
            with a raster mask (what the released checkpoints were trained with, bug B1); `"raster"` un-permutes them
            first (correct). Default `"window"` so released checkpoints behave as trained; new training sets `"raster"`.
        sam2_overrides: OmegaConf dot-list applied to the SAM 2 YAML (tiny test models shrink Hiera with it).
        sam2_drop_path: Hiera drop-path rate (UniPixel's YAML sets 0.1).
        sam2_mask_resize: how inference masks reach the frame size (D1 in docs/fidelity.md). `"single"` resizes SAM 2's
            low-resolution logits (S/4) bilinearly straight to the frame size, as the released code does; `"two_step"`
            goes low-res -> S x S -> frame size (what this project did before; about 1 % of boundary pixels differ).
        sam2_rope_grad: whether gradients flow through the rotary encoding of SAM 2's memory attention (D2). The
            released training code wraps it in `no_grad` (False: `maskmem_tpos_enc`, the RoPE q/k projections and a few
            norms get no gradient); stock SAM 2 lets them flow (True).
        mrope_rule: 3-D rotary positions of the LLM (D4). `"released"` follows Qwen2.5-VL as the released model was
            trained (transformers 4.53): a video's temporal step is `int(second_per_grid_ts) * tokens_per_second`, and
            text after a visual continues at the visual's largest position + 1. `"transformers"` leaves it to the
            installed transformers (5.x: `tokens_per_second * second_per_grid_ts` and text after a visual at
            `start + max(h, w) / merge`).
        loss_*: mask-loss weights (focal 100, dice 5, IoU-L1 5, object score 5); `loss_lm_weight` scales the LM
            cross-entropy (1; the logged `lm_loss` stays unscaled).
    """

    model_type = "pixel_qwen2_5_vl"

    model_name_or_path: str | None = None
    base_model: str = "qwen2_5_vl"
    base_model_path: str | None = None
    conv_type: str = "chatml"
    partial_checkpoint: str | None = None
    sam2_config: str | None = None
    sam2_checkpoint: str | None = None
    sam2_image_size: int = 768
    sam2_hidden_tokens: int = 2
    sam2_batch_mode: bool = False
    sam2_apply_postprocessing: bool = False
    sam2_enable_decoder: bool = True
    sam2_inference_mode: bool = False
    sample_objects: int = -1
    ref_token_id: int = 151665
    seg_token_id: int = 151666
    mem_token_id: int = 151667

    mem_token_order: str = "window"
    sam2_overrides: list | None = None
    sam2_drop_path: float = 0.1
    sam2_mask_resize: str = "single"
    sam2_rope_grad: bool = False
    mrope_rule: str = "released"
    loss_focal_weight: float = 100.0
    loss_dice_weight: float = 5.0
    loss_iou_weight: float = 5.0
    loss_class_weight: float = 5.0
    loss_lm_weight: float = 1.0

    def __post_init__(self, **kwargs):
        move_legacy_rope_fields(self, kwargs)
        super().__post_init__(**kwargs)
        if self.mem_token_order not in MEM_TOKEN_ORDERS:
            raise ValueError(f"mem_token_order must be one of {MEM_TOKEN_ORDERS}, got {self.mem_token_order!r}")
        if self.sam2_mask_resize not in SAM2_MASK_RESIZES:
            raise ValueError(f"sam2_mask_resize must be one of {SAM2_MASK_RESIZES}, got {self.sam2_mask_resize!r}")
        if self.mrope_rule not in MROPE_RULES:
            raise ValueError(f"mrope_rule must be one of {MROPE_RULES}, got {self.mrope_rule!r}")
        # A config built from a plain Qwen2.5-VL dict would otherwise keep `model_type="qwen2_5_vl"` on the instance.
        self.model_type = type(self).model_type


def move_legacy_rope_fields(config, kwargs: dict) -> None:
    """Released `config.json` files (written by transformers 4.x) repeat the LLM's `rope_scaling` / `rope_theta` at
    the top level beside `text_config`; transformers 5 reads them from the text config only and warns about "RoPE
    standardization" when they stay at the top level. They go into `text_config` when it lacks them (a dict), and are
    dropped otherwise. Without a `text_config`, Qwen2.5-VL builds it from the top-level fields, these included."""
    text = config.text_config
    if text is None:
        return
    for key in ("rope_scaling", "rope_theta"):
        if key not in kwargs:
            continue
        value = kwargs.pop(key)
        if isinstance(text, dict) and key not in text and "rope_parameters" not in text:
            text[key] = value
