"""The UniPixel model: transformers' Qwen2.5-VL plus `<|ref|>` prompts, `<|mem|>` object memory and SAM 2.1 masks.

`PixelQwen2_5_VLForConditionalGeneration` subclasses `Qwen2_5_VLForConditionalGeneration` and overrides `forward`,
`prepare_inputs_for_generation` and `generate`; the added modules keep the names of the released checkpoints
(`sam2`, `seg_head`, `ref_encoder`, `ref_proj_single`, `ref_proj_double`, `ref_proj`, `tem_pe`, `tem_emb`,
`tem_proj`, `msk_proj`). Each mechanism is a named method: `encode_visual_prompts` (`<|ref|>`), `pool_memory` and
`inject_memory` (`<|mem|>`), `seg_hidden` (P3: `seg_head` only where needed), `decode_masks` (inference) and
`segment_with_loss` (training), `two_round` (PixelQA memory pre-filling then injection).

Per-sample extra inputs (lists with one entry per batch row; `None` where a row has none):
    ref_prompts: `(P, 6)` float rows `[kind, x1, y1, x2, y2, frame]`, kind 0 = point (x1, y1), 1 = box; coordinates
        in SAM input pixels (`[0, sam2_image_size)`), frame = index among the frames shown to the LLM.
    refer_mask: `(O, t, h, w)` bool token masks over the row's visual grid (see `unipixel.utils.masks`).
    sam2_frames: `(T, 3, S, S)` normalised SAM 2 frames.
    seg_masks: `(O, T, S, S)` bool ground truth, one object per `<|seg|>` of the row, in order.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText, Qwen2_5_VLForConditionalGeneration
from transformers.conversion_mapping import (
    get_checkpoint_conversion_mapping,
    register_checkpoint_conversion_mapping,
)
from transformers.core_model_loading import WeightRenaming
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLRMSNorm
from transformers.vision_utils import get_vision_window_index

from ..utils.masks import masks_to_token_grid
from .configuration import PixelQwen2_5_VLConfig
from .losses import mask_loss
from .rope import mrope_position_ids, token_types
from .sam2_adapter import PixelSAM2, PromptEncoder, build_sam2, rename_sam2_state_dict

REF_POINT, REF_BOX = 0, 1

try:  # transformers >= 5.2x
    from transformers.modeling_outputs import MultimodalCausalLMOutputWithPast as _BaseOutput
except ImportError:  # transformers 5.17
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLCausalLMOutputWithPast as _BaseOutput


@dataclass
class PixelCausalLMOutputWithPast(_BaseOutput):
    """transformers' Qwen2.5-VL output plus the loss components (`loss` = `lm_loss` + `mask_loss`)."""

    lm_loss: torch.FloatTensor | None = None
    mask_loss: torch.FloatTensor | None = None
    mask_focal: torch.FloatTensor | None = None
    mask_dice: torch.FloatTensor | None = None
    mask_iou: torch.FloatTensor | None = None
    mask_class: torch.FloatTensor | None = None


class TemporalFourierEncoding(nn.Module):
    """1-D random-Fourier encoding of a normalised time in [0, 1]: `(N,) -> (N, 2 * num_feats)` as `[sin, cos]`.

    The Gaussian matrix is a persistent buffer (`positional_encoding_gaussian_matrix`, 1 x num_feats), so it is saved
    with every checkpoint rather than re-drawn (fixes B2).
    """

    def __init__(self, num_feats: int = 128, scale: float = 1.0):
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", scale * torch.randn(1, num_feats))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        x = (2 * t.float()[:, None] - 1) @ self.positional_encoding_gaussian_matrix.float()
        x = 2 * math.pi * x
        return torch.cat([torch.sin(x), torch.cos(x)], dim=-1)


@dataclass
class PixelGenerateOutput:
    """What `generate` returns.

    Attributes:
        sequences: `(B, L)` prompt plus generated ids.
        masks: per row, `(O, T, H, W)` bool masks, one object per `<|seg|>` (prompt ones first, in order), or `None`
            when no SAM 2 frames were given.
        seg_positions: per row, the sequence positions of those `<|seg|>` tokens.
        mask_scores: per row, `(O, T)` object-presence logits.
        seg_hidden: per row, the `(O, N_h, 256)` SAM 2 prompts of those `<|seg|>` tokens (what `stream_mask_logits`
            takes to decode the masks later, frame by frame), or `None` without pixel modules.
    """

    sequences: torch.Tensor
    masks: list[torch.Tensor | None]
    seg_positions: list[list[int]]
    mask_scores: list[torch.Tensor | None]
    seg_hidden: list[torch.Tensor | None] | None = None


def _legacy_key_mapping() -> list:
    """Conversion rules: legacy Qwen2.5-VL prefixes (`visual.*`, `model.*`) plus the released `fuser` spelling."""
    rules = get_checkpoint_conversion_mapping("Qwen2_5_VLForConditionalGeneration") or []
    rules.append(
        WeightRenaming(
            source_patterns=r"sam2\.memory_encoder\.fuser\.layers\.(\d+)\.weight",
            target_patterns=r"sam2.memory_encoder.fuser.layers.\1.gamma",
        )
    )
    return rules


def _pixel_get_rope_index(
    inner,
    input_ids: torch.Tensor,
    mm_token_type_ids: torch.Tensor | None = None,
    image_grid_thw: torch.Tensor | None = None,
    video_grid_thw: torch.Tensor | None = None,
    second_per_grid_ts: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    **kwargs,
):
    """`get_rope_index` of the inner Qwen2.5-VL model, by the config's `mrope_rule` (D4, see `unipixel.model.rope`).

    Bound on the instance, so transformers' forward and generation call it wherever they need 3-D positions.
    `mm_token_type_ids` is derived from the placeholder ids when missing.
    """
    cfg = inner.config
    if mm_token_type_ids is None:
        mm_token_type_ids = token_types(input_ids, cfg.image_token_id, cfg.video_token_id)
    if getattr(cfg, "mrope_rule", "released") == "transformers":
        return type(inner).get_rope_index(
            inner,
            input_ids,
            mm_token_type_ids=mm_token_type_ids,
            image_grid_thw=image_grid_thw,
            video_grid_thw=video_grid_thw,
            second_per_grid_ts=second_per_grid_ts,
            attention_mask=attention_mask,
            **kwargs,
        )
    vision = cfg.vision_config
    return mrope_position_ids(
        input_ids,
        mm_token_type_ids,
        image_grid_thw,
        video_grid_thw,
        second_per_grid_ts,
        attention_mask,
        vision.spatial_merge_size,
        vision.tokens_per_second,
    )


class PixelQwen2_5_VLForConditionalGeneration(Qwen2_5_VLForConditionalGeneration):
    config_class = PixelQwen2_5_VLConfig
    config: PixelQwen2_5_VLConfig
    # SAM 2's random-Fourier / sine encodings break in bf16 without autocast; keep the prompt paths fp32.
    _keep_in_fp32_modules_strict = ["sam2", "ref_encoder", "tem_pe"]

    def __init__(self, config: PixelQwen2_5_VLConfig):
        super().__init__(config)
        self.has_pixel_modules = config.sam2_config is not None
        if self.has_pixel_modules:
            self._build_pixel_modules(config)
        self._prenorm = []
        self._capture_all_steps = False
        self.model.get_rope_index = types.MethodType(_pixel_get_rope_index, self.model)
        self.model.language_model.norm.register_forward_pre_hook(self._capture_prenorm)
        self.post_init()
        if self.has_pixel_modules and not self.seg_head[1].weight.is_meta:
            self.init_pixel_modules()

    # ------------------------------------------------------------------ construction
    def _build_pixel_modules(self, config: PixelQwen2_5_VLConfig) -> None:
        d_llm = config.text_config.hidden_size
        size = config.sam2_image_size
        # Built on CPU even under `from_pretrained`'s meta context: SAM 2 keeps plain-attribute RoPE tables that a meta
        # build would leave unusable.
        with torch.device("cpu"):
            self.sam2: PixelSAM2 = build_sam2(
                config.sam2_config,
                size,
                config.sam2_drop_path,
                list(config.sam2_overrides or []),
                rope_grad=config.sam2_rope_grad,
            )
        d_sam = self.sam2.sam_prompt_embed_dim
        n_h = config.sam2_hidden_tokens
        self.seg_head = nn.Sequential(
            Qwen2_5_VLRMSNorm(d_llm, eps=config.text_config.rms_norm_eps),
            nn.Linear(d_llm, d_llm),
            nn.GELU(),
            nn.Linear(d_llm, n_h * d_sam),
        )
        grid = size // 16
        with torch.device("cpu"):
            self.ref_encoder = PromptEncoder(
                embed_dim=d_sam, image_embedding_size=(grid, grid), input_image_size=(size, size), mask_in_chans=16
            )
        self.ref_proj_single = nn.Linear(2 * d_sam, 3 * d_sam)
        self.ref_proj_double = nn.Linear(3 * d_sam, 3 * d_sam)
        self.tem_pe = TemporalFourierEncoding(d_sam // 2)
        self.tem_emb = nn.Embedding(1, d_sam)
        self.tem_proj = nn.Linear(d_sam, 3 * d_sam)
        self.ref_proj = nn.Sequential(nn.GELU(), nn.Linear(6 * d_sam, d_llm))
        merge_dim = self.model.visual.merger.hidden_size
        self.msk_proj = nn.Sequential(nn.Linear(merge_dim, merge_dim), nn.GELU(), nn.Linear(merge_dim, d_llm))
        # SAM 2 and the prompt encoder come with their own initialisation; keep HF's generic init off them.
        for module in (*self.sam2.modules(), *self.ref_encoder.modules(), self.tem_pe):
            module._is_hf_initialized = True

    def _init_weights(self, module):
        super()._init_weights(module)
        if getattr(self, "has_pixel_modules", False) and isinstance(module, nn.Linear):
            heads = (self.seg_head, self.ref_proj_single, self.ref_proj_double, self.ref_proj, self.tem_proj)
            if any(module is m or any(module is sub for sub in m.modules()) for m in heads):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    @torch.no_grad()
    def init_pixel_modules(self) -> None:
        """UniPixel's initialisation of the new modules (docs/design.md §1.8 step 3).

        `ref_encoder` ← SAM's prompt encoder, buffers included (so its Fourier matrix is SAM's, fixing B2);
        `msk_proj` ← the merger MLP; xavier-uniform weights and zero biases for the other new Linears.
        """
        self.ref_encoder.load_state_dict(self.sam2.sam_prompt_encoder.state_dict())
        self.msk_proj.load_state_dict(self.model.visual.merger.mlp.state_dict())
        for head in (self.seg_head, self.ref_proj_single, self.ref_proj_double, self.ref_proj, self.tem_proj):
            for module in head.modules():
                if isinstance(module, nn.Linear):
                    nn.init.xavier_uniform_(module.weight)
                    nn.init.zeros_(module.bias)
        nn.init.ones_(self.seg_head[0].weight)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, strict: bool = True, **kwargs):
        """`from_pretrained` that fails loudly: any missing, unexpected or mismatched key raises `RuntimeError`.

        Accepts the released layout (`visual.*`, `model.*`, `...fuser.layers.N.weight`, bf16, tied `lm_head`) and the
        transformers-5 layout. Pass `strict=False` to get transformers' lenient behaviour (warnings only).
        """
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs)
        problems = {k: sorted(info.get(k) or []) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
        if strict and any(problems.values()):
            lines = [
                f"{k} ({len(v)}): {', '.join(map(str, v[:20]))}{' ...' if len(v) > 20 else ''}"
                for k, v in problems.items()
                if v
            ]
            raise RuntimeError(
                f"Checkpoint {pretrained_model_name_or_path} does not match the model:\n" + "\n".join(lines)
            )
        return (model, info) if want_info else model

    @classmethod
    def from_base(
        cls,
        base_path: str,
        sam2_checkpoint: str | None,
        config: PixelQwen2_5_VLConfig | None = None,
        **kwargs,
    ) -> PixelQwen2_5_VLForConditionalGeneration:
        """A fresh UniPixel from the base Qwen2.5-VL weights and the official SAM 2.1 `.pt` (docs/design.md §1.8).

        Loads the Qwen2.5-VL checkpoint at `base_path` (legacy or new key layout); every key outside the UniPixel
        modules must be present, and the UniPixel modules must be absent (anything else raises). Then loads SAM 2.1
        strictly (both `gamma` and `weight` spellings of the CXBlock layer-scale accepted) and runs
        `init_pixel_modules`. `config` (default: the base config plus SAM 2.1 Hiera-B+ and raster `<|mem|>` order)
        sets the UniPixel fields.
        """
        if config is None:
            base = AutoConfig.from_pretrained(base_path).to_dict()
            base.pop("model_type", None)
            base.setdefault("sam2_config", "configs/sam2.1_hiera_b+")
            base.setdefault("mem_token_order", "raster")
            config = PixelQwen2_5_VLConfig(**base)
        model, info = super().from_pretrained(base_path, config=config, output_loading_info=True, **kwargs)
        new_modules = (
            "sam2.",
            "seg_head.",
            "ref_encoder.",
            "ref_proj",
            "tem_pe.",
            "tem_emb.",
            "tem_proj.",
            "msk_proj.",
        )
        missing = sorted(info.get("missing_keys") or [])
        not_new = [k for k in missing if not k.startswith(new_modules)]
        problems = (
            not_new + sorted(info.get("unexpected_keys") or []) + sorted(map(str, info.get("mismatched_keys") or []))
        )
        if problems:
            raise RuntimeError(f"base checkpoint {base_path} does not match Qwen2.5-VL: {problems[:20]}")
        if model.has_pixel_modules:
            if sam2_checkpoint is not None:
                model.load_sam2_checkpoint(sam2_checkpoint)
            model.init_pixel_modules()
        return model

    def load_sam2_checkpoint(self, path: str) -> None:
        """Load an official SAM 2.1 `.pt` (`{"model": state_dict}`) into `sam2`, strictly."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("model", state)
        missing, unexpected = self.sam2.load_state_dict(rename_sam2_state_dict(state), strict=False)
        if missing or unexpected:
            raise RuntimeError(f"SAM 2 checkpoint {path}: missing {missing[:10]}, unexpected {unexpected[:10]}")

    # ------------------------------------------------------------------ hooks
    def _capture_prenorm(self, module, args):
        """Keep the last decoder layer's output (the input of the final RMSNorm): what `seg_head` reads."""
        if not self._capture_all_steps:
            self._prenorm.clear()
        self._prenorm.append(args[0])

    # ------------------------------------------------------------------ <|ref|>
    def encode_visual_prompts(self, prompts: torch.Tensor, num_frames: torch.Tensor) -> torch.Tensor:
        """`<|ref|>` embeddings for a batch of sparse prompts, in one call per prompt kind.

        Args:
            prompts: `(P, 6)` rows `[kind, x1, y1, x2, y2, frame]` (kind 0 point, 1 box; SAM input pixels).
            num_frames: `(P,)` frames shown to the LLM for each prompt's sample (even; 2 per temporal group).

        Returns:
            `(P, D_llm)`: ref_proj([spatial 768 | temporal 768]). A point is `[pt, pad]` (2 x 256) → `ref_proj_single`;
            a box is `[c1 (label 2), c2 (label 3), pad]` (3 x 256) → `ref_proj_double`; time `t / (n - 1)` → random
            Fourier (256) + `tem_emb` → `tem_proj`.
        """
        kinds = prompts[:, 0].long()
        if ((kinds != REF_POINT) & (kinds != REF_BOX)).any():
            raise ValueError(f"prompt kind must be 0 (point) or 1 (box), got {kinds.unique().tolist()}")
        coords = prompts[:, 1:5].float()
        d_spatial = self.ref_proj_single.out_features
        spatial = coords.new_zeros(prompts.shape[0], d_spatial)
        is_point, is_box = kinds == REF_POINT, kinds == REF_BOX
        if is_point.any():
            pts = coords[is_point, None, :2]
            labels = torch.ones(pts.shape[0], 1, dtype=torch.int32, device=pts.device)
            emb = self.ref_encoder._embed_points(pts, labels, pad=True).flatten(1)
            spatial[is_point] = self.ref_proj_single(emb.to(self.ref_proj_single.weight.dtype)).float()
        if is_box.any():
            corners = coords[is_box].view(-1, 2, 2)
            labels = torch.tensor([[2, 3]], dtype=torch.int32, device=corners.device).expand(corners.shape[0], -1)
            emb = self.ref_encoder._embed_points(corners, labels, pad=True).flatten(1)
            spatial[is_box] = self.ref_proj_double(emb.to(self.ref_proj_double.weight.dtype)).float()
        frames = prompts[:, 5].float()
        denom = (num_frames.float() - 1).clamp(min=1)
        if (frames < 0).any() or (frames > num_frames.float() - 1).any():
            raise ValueError(
                f"prompt frame index out of range: frames {frames.tolist()} vs {num_frames.tolist()} frames"
            )
        temporal = self.tem_pe(frames / denom) + self.tem_emb.weight[0].float()
        temporal = self.tem_proj(temporal.to(self.tem_proj.weight.dtype))
        fused = torch.cat([spatial.to(temporal.dtype), temporal], dim=-1)
        return self.ref_proj(fused.to(self.ref_proj[1].weight.dtype))

    # ------------------------------------------------------------------ <|mem|>
    def _merger_inputs(self, vision_out, grid_thw: torch.Tensor) -> list[torch.Tensor]:
        """Per visual item, its merged-token merger inputs `(t, h*w/4, 4*C_vit)` in the configured token order.

        `vision_out.last_hidden_state` is in the ViT's window order; the merger's RMSNorm is re-applied (cheap) to get
        the MLP input that the released model pooled. `raster` un-permutes with `argsort(window_index)`; `window`
        keeps the window order (bug B1, what the released checkpoints were trained with).
        """
        visual = self.model.visual
        x = visual.merger.ln_q(vision_out.last_hidden_state).view(-1, visual.merger.hidden_size)
        if self.config.mem_token_order == "raster":
            vcfg = self.config.vision_config
            window_index, _ = get_vision_window_index(
                grid_thw.cpu(), vcfg.spatial_merge_size, vcfg.window_size, vcfg.patch_size
            )
            x = x[torch.argsort(window_index).to(x.device)]
        merge = self.config.vision_config.spatial_merge_size**2
        sizes = (grid_thw.prod(-1) // merge).tolist()
        return [
            chunk.view(int(g[0]), -1, chunk.shape[-1]) for chunk, g in zip(torch.split(x, sizes), grid_thw.tolist())
        ]

    def pool_memory(self, feats: torch.Tensor, refer_mask: torch.Tensor) -> torch.Tensor:
        """Masked means of one visual item's merger inputs: one vector per (object, temporal group) present.

        Args:
            feats: `(t, n, C)` merger inputs of the item (n = merged tokens per group).
            refer_mask: `(O, t, h, w)` bool with `h * w == n`.

        Returns:
            `(K, C)` in object-major, then time order, groups where an object is absent skipped.
        """
        num_objects = refer_mask.shape[0]
        mask = refer_mask.reshape(num_objects, feats.shape[0], -1).to(feats.dtype)
        sums = torch.einsum("ogn,gnc->ogc", mask, feats)
        counts = mask.sum(-1)
        present = counts > 0
        return sums[present] / counts[present].unsqueeze(-1)

    # ------------------------------------------------------------------ <|seg|>
    def seg_positions(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`(N, 2)` (row, position) of every position whose *next* token is `<|seg|>` (the state that predicts it)."""
        nxt = input_ids[:, 1:] == self.config.seg_token_id
        if attention_mask is not None:
            nxt = nxt & attention_mask[:, 1:].bool()
        return nxt.nonzero()

    def seg_hidden(self, states: torch.Tensor) -> torch.Tensor:
        """`seg_head` on the selected pre-norm states only (P3): `(N, D) -> (N, N_h, 256)` fp32."""
        n_h = self.config.sam2_hidden_tokens
        return self.seg_head(states).float().view(states.shape[0], n_h, -1)

    def _sam_context(self, device: torch.device):
        dtype = self.model.language_model.embed_tokens.weight.dtype
        if device.type == "cuda" and dtype in (torch.bfloat16, torch.float16):
            return torch.autocast("cuda", dtype=dtype)
        return nullcontext()

    def segment_with_loss(
        self,
        hidden: list[torch.Tensor],
        frames: list[torch.Tensor],
        gt_masks: list[torch.Tensor],
        generator: torch.Generator | None = None,
    ) -> list[dict[str, torch.Tensor]]:
        """Train-time SAM 2 pass for the rows of a batch, batched: one loss dict per row.

        Args (one entry per row): hidden `(O_i, N_h, 256)`, frames `(T_i, 3, S, S)`, gt_masks `(O_i, T_i, S, S)`.
        Rows with the same clip length share one image-encoder call over all their frames and one decoder call per
        frame for all their objects (each frame encoded once however many objects). At most `sample_objects` objects
        per row get the mask loss (a random subset).
        """
        limit = self.config.sample_objects
        for i in range(len(hidden)):
            if limit is not None and 0 < limit < hidden[i].shape[0]:
                keep = torch.randperm(hidden[i].shape[0], generator=generator, device="cpu")[:limit].sort().values
                hidden[i], gt_masks[i] = hidden[i][keep.to(hidden[i].device)], gt_masks[i][keep.to(gt_masks[i].device)]
        sam_dtype = next(self.sam2.parameters()).dtype
        cfg = self.config
        results: list[dict | None] = [None] * len(hidden)
        by_length: dict[int, list[int]] = {}
        for i, clip in enumerate(frames):
            by_length.setdefault(clip.shape[0], []).append(i)
        for num_frames, rows in by_length.items():
            counts = [hidden[i].shape[0] for i in rows]
            clip_index = torch.repeat_interleave(torch.arange(len(rows)), torch.tensor(counts))
            with self._sam_context(frames[rows[0]].device):
                features = self.sam2.encode_frames(torch.cat([frames[i] for i in rows]).to(sam_dtype), chunk_size=64)
                outs = self.sam2.track(
                    features, torch.cat([hidden[i] for i in rows]), False, clip_index=clip_index, num_frames=num_frames
                )
            logits = torch.stack([o.multimask_logits for o in outs]).float()  # (T, ΣO, M, S, S)
            ious = torch.stack([o.ious for o in outs]).float()
            scores = torch.stack([o.object_scores for o in outs]).float()
            start = 0
            for i, count in zip(rows, counts):
                part = slice(start, start + count)
                start += count
                results[i] = mask_loss(
                    logits[:, part],
                    ious[:, part],
                    scores[:, part],
                    gt_masks[i].transpose(0, 1),
                    cfg.loss_focal_weight,
                    cfg.loss_dice_weight,
                    cfg.loss_iou_weight,
                    cfg.loss_class_weight,
                )
        return results

    def resize_mask_logits(self, out, size: tuple[int, int]) -> torch.Tensor:
        """One frame's chosen mask logits `(O, H, W)` fp32 at the frame size `size`, from a SAM 2 `FrameOutput`.

        `sam2_mask_resize="single"` (released behaviour, D1) resizes the decoder's low-res logits (S/4) bilinearly
        straight to `size`; `"two_step"` resizes the S x S logits (themselves upsampled from low-res) to `size`.
        """
        if self.config.sam2_mask_resize == "single" and out.best_low_res is not None:
            logits = out.best_low_res
        else:
            logits = out.best_logits
        if tuple(logits.shape[-2:]) != tuple(size):
            logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
        return logits[:, 0].float()

    @torch.no_grad()
    def iter_mask_logits(self, hidden: torch.Tensor, frames: torch.Tensor, frame_size=None, chunk_size: int = 16):
        """Inference mask tracks of O objects, frame by frame: yields `(t, logits (O, H, W) fp32, scores (O,))`.

        All objects share one SAM 2 session; frames are encoded in chunks just before they are tracked. `logits` are at
        `frame_size` (default S x S); an object judged absent on a frame has constant negative logits there. Each
        frame's output can be consumed (thresholded, written) before the next frame is decoded.
        """
        num_frames = frames.shape[0]
        chunks = (frames[start : start + chunk_size] for start in range(0, num_frames, chunk_size))
        yield from self.stream_mask_logits(hidden, chunks, num_frames, frame_size)

    @torch.no_grad()
    def stream_mask_logits(
        self,
        hidden: torch.Tensor,
        chunks: Iterable[torch.Tensor],
        num_frames: int,
        frame_size: tuple[int, int] | None = None,
        offload_state: bool = False,
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """`iter_mask_logits` over a clip that arrives in chunks: yields `(t, logits (O, H, W) fp32, scores (O,))`.

        `chunks` yields normalised SAM 2 frames `(n, 3, S, S)` (on any device; e.g. transformed on the CPU as they are
        decoded), `num_frames` in all; each chunk is moved to the model's device and encoded when its turn comes, so
        neither the video nor its masks are ever held whole. With the same chunk boundaries as `iter_mask_logits`'s
        `chunk_size` the logits are the same, frame for frame. `offload_state` keeps SAM 2's memory-bank features in
        CPU memory between frames (SAM 2's `offload_state_to_cpu`; no effect on a CPU).
        """
        size = tuple(frame_size or (self.config.sam2_image_size,) * 2)
        if hidden.shape[0] == 0:
            return
        sam_dtype = next(self.sam2.parameters()).dtype
        device = next(self.sam2.parameters()).device
        was_training = self.sam2.training
        self.sam2.eval()
        try:
            with self._sam_context(device):
                frames = (chunk.to(device, sam_dtype) for chunk in chunks)
                stream = self.sam2.segment_stream(frames, num_frames, hidden.to(device, sam_dtype), offload_state)
                for t, out in stream:
                    yield t, self.resize_mask_logits(out, size), out.object_scores[:, 0].float()
        finally:
            self.sam2.train(was_training)

    @torch.no_grad()
    def decode_masks(
        self,
        hidden: torch.Tensor,
        frames: torch.Tensor,
        frame_size: tuple[int, int] | None = None,
        chunk_size: int = 16,
        threshold: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference masks of O objects over a clip, all objects in one SAM 2 session, each frame encoded once.

        Args:
            hidden: `(O, N_h, 256)`. frames: `(T, 3, S, S)` normalised. frame_size: output `(H, W)` (default S x S).

        Returns:
            masks `(O, T, H, W)` bool (logits resized to the frame size as `sam2_mask_resize` says, then `> threshold`;
            an object judged absent on a frame is empty there) and object scores `(O, T)`.
        """
        size = frame_size or (self.config.sam2_image_size,) * 2
        masks = torch.zeros(hidden.shape[0], frames.shape[0], *size, dtype=torch.bool, device=frames.device)
        scores = torch.zeros(hidden.shape[0], frames.shape[0], device=frames.device)
        for t, logits, frame_scores in self.iter_mask_logits(hidden, frames, size, chunk_size):
            masks[:, t] = logits > threshold
            scores[:, t] = frame_scores
        return masks, scores

    # ------------------------------------------------------------------ forward
    @staticmethod
    def _items_per_row(input_ids: torch.Tensor, token_id: int, grid_thw: torch.Tensor | None, merge: int) -> list:
        """Which visual items (rows of `grid_thw`) belong to each batch row, from the placeholder-token counts."""
        rows = [[] for _ in range(input_ids.shape[0])]
        if grid_thw is None:
            return rows
        counts = (input_ids == token_id).sum(-1).tolist()
        sizes = (grid_thw.prod(-1) // merge).tolist()
        item = 0
        for row, count in enumerate(counts):
            while count > 0:
                if item >= len(sizes):
                    raise ValueError("more visual placeholder tokens than visual features in the batch")
                rows[row].append(item)
                count -= sizes[item]
                item += 1
            if count < 0:
                raise ValueError(f"row {row}: visual placeholder tokens do not split into whole items")
        return rows

    def _prefill_embeddings(
        self,
        input_ids: torch.Tensor,
        pixel_values,
        pixel_values_videos,
        image_grid_thw,
        video_grid_thw,
        ref_prompts,
        refer_mask,
    ) -> torch.Tensor:
        """Input embeddings with visual features scattered and `<|ref|>` / `<|mem|>` rows overwritten."""
        cfg = self.config
        embeds = self.get_input_embeddings()(input_ids)
        merge = cfg.vision_config.spatial_merge_size**2
        row_items: dict[str, list] = {}
        item_feats: dict[str, list] = {}
        for kind, pixels, grid, token in (
            ("image", pixel_values, image_grid_thw, cfg.image_token_id),
            ("video", pixel_values_videos, video_grid_thw, cfg.video_token_id),
        ):
            if pixels is None:
                continue
            out = (
                self.model.get_video_features(pixels, grid)
                if kind == "video"
                else self.model.get_image_features(pixels, grid)
            )
            merged = torch.cat(out.pooler_output, dim=0).to(embeds.dtype)
            placeholder = (input_ids == token).unsqueeze(-1)
            if int(placeholder.sum()) != merged.shape[0]:
                raise ValueError(
                    f"{kind} placeholder tokens ({int(placeholder.sum())}) != features ({merged.shape[0]})"
                )
            embeds = embeds.masked_scatter(placeholder, merged)
            row_items[kind] = self._items_per_row(input_ids, token, grid, merge)
            if refer_mask is not None and self.has_pixel_modules:
                item_feats[kind] = self._merger_inputs(out, grid)
        if not self.has_pixel_modules:
            return embeds
        grids = {"image": image_grid_thw, "video": video_grid_thw}

        def row_visual(row: int):
            for kind in ("video", "image"):
                if row_items.get(kind) and row_items[kind][row]:
                    return kind, row_items[kind][row][0]
            return None, None

        if ref_prompts is not None:
            embeds = self.inject_ref(embeds, input_ids, ref_prompts, row_visual, grids)
        if refer_mask is not None:
            embeds = self.inject_memory(embeds, input_ids, refer_mask, row_visual, grids, item_feats)
        return embeds

    def inject_ref(self, embeds, input_ids, ref_prompts, row_visual, grids) -> torch.Tensor:
        """Overwrite every `<|ref|>` row with the encoding of its prompt (row order); counts must match."""
        rows, frames = [], []
        for row, prompts in enumerate(ref_prompts):
            expected = int((input_ids[row] == self.config.ref_token_id).sum())
            got = 0 if prompts is None else prompts.shape[0]
            if expected != got:
                raise ValueError(f"batch row {row}: {expected} <|ref|> tokens but {got} visual prompts")
            if got:
                kind, item = row_visual(row)
                if kind is None:
                    raise ValueError(f"batch row {row}: <|ref|> prompts given but the row has no image or video")
                n_frames = 2 * int(grids[kind][item][0])
                rows.append(prompts.to(embeds.device))
                frames.append(torch.full((got,), n_frames, device=embeds.device))
        if not rows:
            return embeds
        ref = self.encode_visual_prompts(torch.cat(rows), torch.cat(frames)).to(embeds.dtype)
        mask = (input_ids == self.config.ref_token_id).unsqueeze(-1)
        return embeds.masked_scatter(mask, ref)

    def inject_memory(self, embeds, input_ids, refer_mask, row_visual, grids, item_feats) -> torch.Tensor:
        """Overwrite every `<|mem|>` row with `msk_proj` of its pooled object feature (row order); counts must match."""
        pooled = []
        for row, masks in enumerate(refer_mask):
            expected = int((input_ids[row] == self.config.mem_token_id).sum())
            if masks is None or masks.shape[0] == 0:
                if expected:
                    raise ValueError(f"batch row {row}: {expected} <|mem|> tokens but no refer_mask")
                continue
            kind, item = row_visual(row)
            if kind is None:
                raise ValueError(f"batch row {row}: refer_mask given but the row has no image or video")
            feats = item_feats[kind][item]
            g = grids[kind][item].tolist()
            merge = self.config.vision_config.spatial_merge_size
            want = (g[0], g[1] // merge, g[2] // merge)
            if tuple(masks.shape[1:]) != want:
                raise ValueError(
                    f"batch row {row}: refer_mask has shape {tuple(masks.shape)}, expected (objects, {want[0]}, "
                    f"{want[1]}, {want[2]}) for visual grid {g}"
                )
            vectors = self.pool_memory(feats, masks.to(feats.device))
            if vectors.shape[0] != expected:
                raise ValueError(
                    f"batch row {row}: {expected} <|mem|> tokens but the masks give {vectors.shape[0]} "
                    "(object, temporal group) entries"
                )
            pooled.append(vectors)
        if not pooled:
            return embeds
        mem = self.msk_proj(torch.cat(pooled).to(self.msk_proj[0].weight.dtype)).to(embeds.dtype)
        mask = (input_ids == self.config.mem_token_id).unsqueeze(-1)
        return embeds.masked_scatter(mask, mem)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        image_grid_thw: torch.LongTensor | None = None,
        video_grid_thw: torch.LongTensor | None = None,
        mm_token_type_ids: torch.IntTensor | None = None,
        second_per_grid_ts: torch.Tensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        ref_prompts: list[torch.Tensor | None] | None = None,
        refer_mask: list[torch.Tensor | None] | None = None,
        sam2_frames: list[torch.Tensor | None] | None = None,
        seg_masks: list[torch.Tensor | None] | None = None,
        **kwargs,
    ):
        """Qwen2.5-VL forward plus `<|ref|>`/`<|mem|>` injection and, with `seg_masks`, the mask loss.

        Returns transformers' causal-LM output; `loss` = LM loss + mean mask loss over rows with masks, and the extra
        keys `lm_loss`, `mask_loss`, `mask_focal`, `mask_dice`, `mask_iou`, `mask_class` when a mask loss was computed.
        """
        has_visual = pixel_values is not None or pixel_values_videos is not None
        if inputs_embeds is None and input_ids is not None and (has_visual or ref_prompts or refer_mask):
            inputs_embeds = self._prefill_embeddings(
                input_ids, pixel_values, pixel_values_videos, image_grid_thw, video_grid_thw, ref_prompts, refer_mask
            )
        elif ref_prompts is not None or refer_mask is not None:
            raise ValueError("ref_prompts / refer_mask need input_ids (their token positions)")
        outputs = super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            labels=labels,
            use_cache=use_cache,
            pixel_values=None,
            pixel_values_videos=None,
            image_grid_thw=image_grid_thw,
            video_grid_thw=video_grid_thw,
            mm_token_type_ids=mm_token_type_ids,
            second_per_grid_ts=second_per_grid_ts,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )
        outputs = PixelCausalLMOutputWithPast(**outputs)
        lm_weight = getattr(self.config, "loss_lm_weight", 1.0)
        if outputs.loss is not None and lm_weight != 1.0:
            outputs["lm_loss"] = outputs.loss.detach()
            outputs["loss"] = outputs.loss * lm_weight
        if seg_masks is not None and self.has_pixel_modules and self.config.sam2_enable_decoder:
            self._add_mask_loss(outputs, input_ids, attention_mask, sam2_frames, seg_masks)
        return outputs

    def _add_mask_loss(self, outputs, input_ids, attention_mask, sam2_frames, seg_masks) -> None:
        prenorm = self._prenorm[-1]
        positions = self.seg_positions(input_ids, attention_mask)
        hidden = self.seg_hidden(prenorm[positions[:, 0], positions[:, 1]]) if len(positions) else None
        rows_hidden, rows_frames, rows_masks = [], [], []
        for row, masks in enumerate(seg_masks):
            in_row = positions[:, 0] == row
            count = int(in_row.sum())
            if masks is None:
                continue
            if masks.shape[0] != count:
                raise ValueError(f"batch row {row}: {count} <|seg|> tokens but {masks.shape[0]} ground-truth objects")
            if count == 0:
                continue
            if sam2_frames is None or sam2_frames[row] is None:
                raise ValueError(f"batch row {row}: seg_masks given without sam2_frames")
            frames = sam2_frames[row]
            if masks.shape[1] != frames.shape[0] or masks.shape[-2:] != frames.shape[-2:]:
                raise ValueError(
                    f"batch row {row}: seg_masks {tuple(masks.shape)} do not match sam2_frames {tuple(frames.shape)}"
                )
            rows_hidden.append(hidden[in_row])
            rows_frames.append(frames)
            rows_masks.append(masks)
        if not rows_hidden:
            return
        losses = self.segment_with_loss(rows_hidden, rows_frames, rows_masks)
        parts = {k: torch.stack([loss[k] for loss in losses]).mean() for k in losses[0]}
        lm_loss = outputs.loss
        if outputs.get("lm_loss") is None:
            outputs["lm_loss"] = lm_loss
        outputs["mask_loss"] = parts["loss"]
        for key in ("focal", "dice", "iou", "class"):
            outputs[f"mask_{key}"] = parts[key].detach()
        outputs["loss"] = parts["loss"] if lm_loss is None else lm_loss + parts["loss"]

    # ------------------------------------------------------------------ generation
    def prepare_inputs_for_generation(
        self, *args, ref_prompts=None, refer_mask=None, is_first_iteration=False, **kwargs
    ):
        inputs = super().prepare_inputs_for_generation(*args, is_first_iteration=is_first_iteration, **kwargs)
        if is_first_iteration:
            inputs["ref_prompts"] = ref_prompts
            inputs["refer_mask"] = refer_mask
        return inputs

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor | None = None,
        sam2_frames: list[torch.Tensor] | None = None,
        frame_sizes: list[tuple[int, int]] | None = None,
        mask_chunk_size: int = 16,
        **kwargs,
    ) -> PixelGenerateOutput:
        """Generate text, then decode one mask track per `<|seg|>` in the prompt or the output.

        The hidden state that predicted each `<|seg|>` (the *sampled* token, not the arg-max, so text and masks always
        agree; fixes B4) is collected during decoding; after generation every row's objects go through SAM 2 together
        over all of that row's `sam2_frames` (each frame encoded once), resized to `frame_sizes[row]`.
        Only greedy search or sampling (`num_beams=1`) is supported.
        """
        if kwargs.get("num_beams", 1) != 1:
            raise ValueError("UniPixel generate supports num_beams=1 only (masks follow the decoded sequence)")
        kwargs.pop("return_dict_in_generate", None)
        self._prenorm.clear()
        self._capture_all_steps = True
        try:
            out = super().generate(input_ids=input_ids, return_dict_in_generate=True, **kwargs)
        finally:
            self._capture_all_steps = False
        states, self._prenorm = list(self._prenorm), []
        sequences = out.sequences
        prompt_len = input_ids.shape[1]
        prefill = states[0]
        steps = states[1:]

        def state_at(row: int, pos: int) -> torch.Tensor:
            return prefill[row, pos] if pos < prompt_len else steps[pos - prompt_len][row, -1]

        masks, positions, scores, hiddens = [], [], [], []
        attention = kwargs.get("attention_mask")
        for row in range(sequences.shape[0]):
            seg_pos = (sequences[row] == self.config.seg_token_id).nonzero().flatten().tolist()
            if attention is not None:
                seg_pos = [p for p in seg_pos if p >= prompt_len or bool(attention[row, p])]
            seg_pos = [p for p in seg_pos if p > 0 and (p - 1) < prompt_len + len(steps)]
            positions.append(seg_pos)
            hidden = None
            if self.has_pixel_modules:
                if seg_pos:
                    hidden = self.seg_hidden(torch.stack([state_at(row, p - 1) for p in seg_pos]))
                else:
                    hidden = torch.zeros(0, self.config.sam2_hidden_tokens, self.sam2.sam_prompt_embed_dim)
            hiddens.append(hidden)
            if sam2_frames is None or sam2_frames[row] is None or hidden is None:
                masks.append(None)
                scores.append(None)
                continue
            size = None if frame_sizes is None else tuple(frame_sizes[row])
            row_masks, row_scores = self.decode_masks(
                hidden.to(sam2_frames[row].device), sam2_frames[row], size, mask_chunk_size
            )
            masks.append(row_masks)
            scores.append(row_scores)
        return PixelGenerateOutput(
            sequences=sequences, masks=masks, seg_positions=positions, mask_scores=scores, seg_hidden=hiddens
        )

    @torch.no_grad()
    def segment_prompted(
        self,
        sam2_frames: list[torch.Tensor],
        frame_sizes: list[tuple[int, int]] | None = None,
        mask_chunk_size: int = 16,
        **inputs,
    ) -> list[torch.Tensor]:
        """Teacher-forced pass: one forward over inputs that already contain `<|seg|>` tokens → masks per row.

        Used for memory pre-filling (PixelQA pass 1), where the answer "[0] <|seg|> [1] <|seg|>" is given.
        Returns per row `(O, T, H, W)` bool masks.
        """
        results = []
        for row, hidden in enumerate(self.prompted_seg_hidden(**inputs)):
            size = None if frame_sizes is None else tuple(frame_sizes[row])
            results.append(self.decode_masks(hidden, sam2_frames[row], size, mask_chunk_size)[0])
        return results

    @torch.no_grad()
    def prompted_seg_hidden(self, **inputs) -> list[torch.Tensor]:
        """Teacher-forced pass over inputs that already contain `<|seg|>` tokens: per row, the `(O, N_h, 256)` SAM 2
        prompts of those tokens (what `segment_prompted` decodes; `stream_mask_logits` takes them too)."""
        input_ids, attention_mask = inputs["input_ids"], inputs.get("attention_mask")
        self(**inputs, use_cache=False, logits_to_keep=1)
        prenorm = self._prenorm[-1]
        positions = self.seg_positions(input_ids, attention_mask)
        hiddens = []
        for row in range(input_ids.shape[0]):
            picked = positions[positions[:, 0] == row, 1]
            hiddens.append(
                self.seg_hidden(prenorm[row, picked])
                if len(picked)
                else torch.zeros(
                    0, self.config.sam2_hidden_tokens, self.sam2.sam_prompt_embed_dim, device=prenorm.device
                )
            )
        return hiddens

    @torch.no_grad()
    def two_round(
        self,
        first_inputs: dict,
        build_second_inputs,
        sam2_frames: torch.Tensor,
        second_grid_thw,
        frame_size: tuple[int, int] | None = None,
        llm_frame_index: list[int] | None = None,
        empty_as_full: bool = True,
        **generate_kwargs,
    ) -> tuple[torch.Tensor, PixelGenerateOutput]:
        """PixelQA for one sample: memory pre-filling, then memory injection (docs/design.md §6).

        Pass 1 (`first_inputs`, a batch of one): the question with `[ID] <|ref|>` prompts and the teacher-forced answer
        `[ID] <|seg|> ...`; one forward decodes one mask track per `<|seg|>` over `sam2_frames (T, 3, S, S)`.
        Pass 2: the masks on the frames shown to the LLM (`llm_frame_index`, default all) become the `refer_mask` over
        the visual grid `second_grid_thw`; `build_second_inputs(presence)` receives the `(O, t)` bool matrix of the
        (object, temporal group) entries that exist — one `<|mem|>` each — and returns the batch-of-one model inputs
        of the second prompt; the answer is generated from them. With `empty_as_full`, an object whose predicted mask
        is empty on every LLM frame gets the whole frame (the original's rule, B11), so it keeps its `<|mem|>` entries.

        Returns:
            the pass-1 masks `(O, T, H, W)` and the pass-2 `PixelGenerateOutput`.
        """
        masks = self.segment_prompted([sam2_frames], [frame_size] if frame_size else None, **first_inputs)[0]
        llm_masks = masks if llm_frame_index is None else masks[:, llm_frame_index]
        if empty_as_full:
            empty = ~llm_masks.flatten(1).any(-1)
            llm_masks = llm_masks.clone()
            llm_masks[empty] = True
        grid = [int(v) for v in second_grid_thw]
        refer_mask = masks_to_token_grid(llm_masks, grid, self.config.vision_config.patch_size)
        second_inputs = build_second_inputs(refer_mask.flatten(2).any(-1))
        answer = self.generate(**second_inputs, refer_mask=[refer_mask], **generate_kwargs)
        return masks, answer


register_checkpoint_conversion_mapping(
    PixelQwen2_5_VLForConditionalGeneration.__name__, _legacy_key_mapping(), overwrite=True
)
AutoConfig.register(PixelQwen2_5_VLConfig.model_type, PixelQwen2_5_VLConfig, exist_ok=True)
AutoModel.register(PixelQwen2_5_VLConfig, PixelQwen2_5_VLForConditionalGeneration, exist_ok=True)
AutoModelForImageTextToText.register(PixelQwen2_5_VLConfig, PixelQwen2_5_VLForConditionalGeneration, exist_ok=True)
