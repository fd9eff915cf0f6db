"""SAM 2.1 from the PyPI `sam2` package, adapted for UniPixel's `<|seg|>` prompt tokens.

`PixelSAM2` subclasses `sam2.modeling.sam2_base.SAM2Base` and changes one method, `_forward_sam_heads`, so that the
`seg_head` output of each `<|seg|>` (2 x 256 per object) joins the sparse prompt on the clip's first frame and the
"no object" gate is optional (UniPixel trains without it). The tracking driver below is ours: it encodes every frame
once for all objects of a sample (fixes P1), runs the memory-conditioned decoder frame by frame with all objects on
SAM 2's batch axis, and is shared by training (with gradients, `track`) and inference (`segment`, no gradients,
memory pruned so long videos fit).
"""

from __future__ import annotations

import importlib.resources
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

_hydra_was_initialised = GlobalHydra.instance().is_initialized()
import sam2  # noqa: E402  (importing sam2 initialises Hydra's global state; every unipixel import of sam2 comes here)

if not _hydra_was_initialised and GlobalHydra.instance().is_initialized():
    # sam2's import-time `initialize_config_module` would make every later `@hydra.main` fail; we never use it.
    GlobalHydra.instance().clear()

from sam2.modeling.position_encoding import apply_rotary_enc  # noqa: E402
from sam2.modeling.sam.prompt_encoder import PromptEncoder  # noqa: E402,F401  (re-exported for the model)
from sam2.modeling.sam.transformer import RoPEAttention  # noqa: E402
from sam2.modeling.sam2_base import NO_OBJ_SCORE, SAM2Base  # noqa: E402

SAM2_MEAN = (0.485, 0.456, 0.406)
SAM2_STD = (0.229, 0.224, 0.225)


def resolve_sam2_yaml(name: str) -> str:
    """Path of a SAM 2 YAML given a file path or a config name.

    Accepts an existing file, the released spelling `configs/sam2.1_hiera_b+`, or a bare name such as
    `sam2.1_hiera_t`; names are looked up in the installed `sam2` package's `configs/sam2.1` and `configs/sam2`.
    """
    if os.path.isfile(name):
        return name
    stem = os.path.basename(name)
    stem = stem[: -len(".yaml")] if stem.endswith(".yaml") else stem
    root = importlib.resources.files(sam2) / "configs"
    for sub in ("sam2.1", "sam2", ""):
        candidate = root / sub / f"{stem}.yaml" if sub else root / f"{stem}.yaml"
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(f"SAM 2 config {name!r} is neither a file nor a config shipped with the sam2 package")


class PixelRoPEAttention(RoPEAttention):
    """SAM 2's rotary attention with a switch for gradients through the rotation (D2 in docs/fidelity.md).

    `rope_grad=False` computes the rotated q/k without autograd, as the released training code does: the rotated part
    of q and k is then a constant for backward, so `q_proj`, the rotated keys' `k_proj` path and everything before them
    in memory attention (e.g. `maskmem_tpos_enc`) get no gradient from it. The keys excluded from the rotation (object
    pointers) keep theirs. `rope_grad=True` is stock SAM 2.
    """

    def __init__(self, *args, rope_grad: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.rope_grad = rope_grad

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_k_exclude_rope: int = 0) -> torch.Tensor:
        if self.rope_grad or not torch.is_grad_enabled():
            return super().forward(q, k, v, num_k_exclude_rope)
        q = self._separate_heads(self.q_proj(q), self.num_heads)
        k = self._separate_heads(self.k_proj(k), self.num_heads)
        v = self._separate_heads(self.v_proj(v), self.num_heads)
        side = math.sqrt(q.shape[-2])
        self.freqs_cis = self.freqs_cis.to(q.device)
        if self.freqs_cis.shape[0] != q.shape[-2]:
            self.freqs_cis = self.compute_cis(end_x=side, end_y=side).to(q.device)
        if q.shape[-2] != k.shape[-2] and not self.rope_k_repeat:
            raise ValueError("query and key lengths differ but rope_k_repeat is off")
        num_k_rope = k.size(-2) - num_k_exclude_rope
        with torch.no_grad():
            q_rot, k_rot = apply_rotary_enc(
                q, k[:, :, :num_k_rope], freqs_cis=self.freqs_cis, repeat_freqs_k=self.rope_k_repeat
            )
        k = torch.cat([k_rot, k[:, :, num_k_rope:]], dim=2)
        dropout_p = self.dropout_p if self.training else 0.0
        out = F.scaled_dot_product_attention(q_rot, k, v, dropout_p=dropout_p)
        return self.out_proj(self._recombine_heads(out))


def sam2_model_config(
    name: str,
    image_size: int,
    drop_path: float = 0.0,
    overrides: list[str] | None = None,
    rope_grad: bool = True,
) -> DictConfig:
    """The `model:` node of a SAM 2 YAML with UniPixel's settings applied (no Hydra global state involved).

    `rope_grad` sets `PixelRoPEAttention.rope_grad` on memory attention's self- and cross-attention (D2)."""
    cfg = OmegaConf.load(resolve_sam2_yaml(name))
    if image_size % 32:
        raise ValueError(f"sam2_image_size must be a multiple of 32 (Hiera window tiling), got {image_size}")
    grid = image_size // 16
    model = cfg.model
    model._target_ = f"{__name__}.PixelSAM2"
    model.image_size = image_size
    model.image_encoder.trunk.drop_path_rate = drop_path
    # RoPE tables sized for the real grid, otherwise memory attention rebuilds them on every call.
    model.memory_attention.layer.self_attention.feat_sizes = [grid, grid]
    model.memory_attention.layer.cross_attention.feat_sizes = [grid, grid]
    for attention in (model.memory_attention.layer.self_attention, model.memory_attention.layer.cross_attention):
        if attention._target_.endswith(".RoPEAttention"):
            attention._target_ = f"{__name__}.PixelRoPEAttention"
            attention.rope_grad = rope_grad
    if overrides:
        cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    return cfg.model


def build_sam2(
    name: str,
    image_size: int,
    drop_path: float = 0.0,
    overrides: list[str] | None = None,
    rope_grad: bool = True,
) -> PixelSAM2:
    """Instantiate `PixelSAM2` from a SAM 2 YAML (random init; load weights separately)."""
    return instantiate(sam2_model_config(name, image_size, drop_path, overrides, rope_grad), _recursive_=True)


def rename_sam2_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the vendored/released CXBlock layer-scale name (`fuser.layers.N.weight`) to PyPI sam2's `gamma`."""
    out = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if len(parts) >= 4 and parts[-4:-2] == ["fuser", "layers"] and parts[-1] == "weight" and value.dim() == 1:
            key = ".".join(parts[:-1] + ["gamma"])
        out[key] = value
    return out


@dataclass
class FrameFeatures:
    """Backbone features of T frames, computed once and shared by all objects.

    Attributes:
        feats: per level, `(HW_l, T, C_l)`; levels 0/1 already went through the decoder's `conv_s0/conv_s1`.
        pos: last-level position encoding `(HW, 1, C)` (identical for every frame).
        sizes: per level `(h_l, w_l)`.
    """

    feats: list[torch.Tensor]
    pos: torch.Tensor
    sizes: list[tuple[int, int]]

    @property
    def num_frames(self) -> int:
        return self.feats[-1].shape[1]


@dataclass
class FrameOutput:
    """One frame's decoder output for O objects.

    Attributes:
        multimask_logits: `(O, M, S, S)` high-res candidate logits (M = 3 with multimask output).
        ious: `(O, M)` predicted IoUs.
        object_scores: `(O, 1)` object-presence logits.
        best_logits: `(O, 1, S, S)` the highest-predicted-IoU candidate (gated by the object score when gating).
        best_low_res: `(O, 1, S/4, S/4)` the same candidate at the decoder's own resolution, before any resizing:
            inference resizes these once to the frame size (D1).
    """

    multimask_logits: torch.Tensor
    ious: torch.Tensor
    object_scores: torch.Tensor
    best_logits: torch.Tensor
    best_low_res: torch.Tensor | None = None


class PixelSAM2(SAM2Base):
    """SAM 2.1 whose decoder also takes UniPixel's hidden prompt tokens."""

    def _forward_sam_heads(
        self,
        backbone_features,
        point_inputs=None,
        mask_inputs=None,
        high_res_features=None,
        multimask_output=False,
        hidden_inputs: torch.Tensor | None = None,
        gate_no_obj: bool = True,
    ):
        """SAM prompt encoder + mask decoder, with `hidden_inputs (B, N_h, 256)` appended to the sparse prompt.

        With no points, SAM pads one "not-a-point" and the prompt encoder pads another, so the decoder sees
        `[nap, nap, h_1, h_2]`. `gate_no_obj` replaces mask logits by -1024 where the object score is <= 0 (stock SAM 2
        always does; UniPixel only at inference). Returns the same 7-tuple as the stock method.
        """
        batch = backbone_features.size(0)
        device = backbone_features.device
        if point_inputs is not None:
            coords, labels = point_inputs["point_coords"], point_inputs["point_labels"]
        else:
            coords = torch.zeros(batch, 1, 2, device=device)
            labels = -torch.ones(batch, 1, dtype=torch.int32, device=device)
        mask_prompt = None
        if mask_inputs is not None:
            mask_prompt = mask_inputs.float()
            if mask_prompt.shape[-2:] != self.sam_prompt_encoder.mask_input_size:
                mask_prompt = F.interpolate(
                    mask_prompt, size=self.sam_prompt_encoder.mask_input_size, mode="bilinear", antialias=True
                )
        sparse, dense = self.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=mask_prompt)
        if hidden_inputs is not None:
            sparse = torch.cat([sparse, hidden_inputs.to(sparse.dtype)], dim=1)
        low_res_multimasks, ious, out_tokens, object_scores = self.sam_mask_decoder(
            image_embeddings=backbone_features,
            image_pe=self.sam_prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=False,
            high_res_features=high_res_features,
        )
        present = object_scores > 0
        if self.pred_obj_scores and gate_no_obj:
            low_res_multimasks = torch.where(present[:, None, None], low_res_multimasks, NO_OBJ_SCORE)
        low_res_multimasks = low_res_multimasks.float()
        high_res_multimasks = F.interpolate(
            low_res_multimasks, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
        )
        token = out_tokens[:, 0]
        if multimask_output:
            best = torch.argmax(ious, dim=-1)
            rows = torch.arange(batch, device=device)
            low_res_masks = low_res_multimasks[rows, best].unsqueeze(1)
            high_res_masks = high_res_multimasks[rows, best].unsqueeze(1)
            if out_tokens.size(1) > 1:
                token = out_tokens[rows, best]
        else:
            low_res_masks, high_res_masks = low_res_multimasks, high_res_multimasks
        obj_ptr = self.obj_ptr_proj(token)
        if self.pred_obj_scores:
            weight = object_scores.sigmoid() if self.soft_no_obj_ptr else present.to(obj_ptr.dtype)
            if self.fixed_no_obj_ptr:
                obj_ptr = weight * obj_ptr
            obj_ptr = obj_ptr + (1 - weight) * self.no_obj_ptr
        return low_res_multimasks, high_res_multimasks, ious, low_res_masks, high_res_masks, obj_ptr, object_scores

    # ------------------------------------------------------------------ driver
    def encode_frames(self, frames: torch.Tensor, chunk_size: int = 16) -> FrameFeatures:
        """Run the image encoder once on `frames (T, 3, S, S)` (normalised), in chunks of `chunk_size` frames."""
        feats_per_chunk, pos, sizes = [], None, None
        for start in range(0, frames.shape[0], chunk_size):
            backbone = self.forward_image(frames[start : start + chunk_size])
            _, feats, pos_embeds, sizes = self._prepare_backbone_features(backbone)
            feats_per_chunk.append(feats)
            pos = pos_embeds[-1][:, :1]
        feats = [torch.cat([chunk[level] for chunk in feats_per_chunk], dim=1) for level in range(len(sizes))]
        return FrameFeatures(feats=feats, pos=pos, sizes=[tuple(s) for s in sizes])

    def _track_frame(
        self,
        t: int,
        frame_feats: list[torch.Tensor],
        features: FrameFeatures,
        num_objects: int,
        num_frames: int,
        memory: dict,
        hidden: torch.Tensor | None,
        gate_no_obj: bool,
    ) -> FrameOutput:
        """Decode frame `t` for all objects; `frame_feats` are per-level `(HW_l, 1 or O, C_l)` features (one frame
        shared by every object, or each object's own clip frame). The last frame's memory is not encoded: no later
        frame reads it (for a single image that is the whole memory encoder, a quarter of the forward pass)."""
        feats = [x.expand(-1, num_objects, -1) if x.shape[1] == 1 else x for x in frame_feats]
        pos = [features.pos.expand(-1, num_objects, -1)]
        high_res = [
            x.permute(1, 2, 0).reshape(num_objects, x.shape[-1], *size)
            for x, size in zip(feats[:-1], features.sizes[:-1])
        ]
        pix_feat = self._prepare_memory_conditioned_features(
            frame_idx=t,
            is_init_cond_frame=t == 0,
            current_vision_feats=feats[-1:],
            current_vision_pos_embeds=pos,
            feat_sizes=features.sizes[-1:],
            output_dict=memory,
            num_frames=num_frames,
        )
        multimask = self._use_multimask(t == 0, None)
        _, hr_multi, ious, low_res, hr_best, obj_ptr, scores = self._forward_sam_heads(
            pix_feat,
            high_res_features=high_res,
            multimask_output=multimask,
            hidden_inputs=hidden if t == 0 else None,
            gate_no_obj=gate_no_obj,
        )
        entry = {"pred_masks": low_res, "obj_ptr": obj_ptr}
        if t < num_frames - 1:
            self._encode_memory_in_output(feats, features.sizes, None, True, hr_best, scores, entry)
        memory["cond_frame_outputs" if t == 0 else "non_cond_frame_outputs"][t] = entry
        return FrameOutput(
            multimask_logits=hr_multi, ious=ious, object_scores=scores, best_logits=hr_best, best_low_res=low_res
        )

    def track(
        self,
        features: FrameFeatures,
        hidden: torch.Tensor,
        gate_no_obj: bool = False,
        clip_index: torch.Tensor | None = None,
        num_frames: int | None = None,
    ) -> list[FrameOutput]:
        """Train-time propagation with gradients: `hidden (O, N_h, 256)` prompts frame 0, frames 1.. follow memory.

        With `clip_index (O,)`, `features` hold several clips of `num_frames` frames each, clip-major (clip c, frame t
        at position `c * num_frames + t`), and object o is tracked on clip `clip_index[o]`: every frame of every clip
        is encoded once and the objects of all clips share each decoder call. Every frame's memory is kept, so
        gradients flow through the memory encoder and object pointers.
        """
        num_frames = num_frames or features.num_frames
        if clip_index is not None and features.num_frames % num_frames:
            raise ValueError(f"{features.num_frames} encoded frames do not split into clips of {num_frames}")
        memory = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        outputs = []
        for t in range(num_frames):
            if clip_index is None:
                frame_feats = [x[:, t : t + 1] for x in features.feats]
            else:
                positions = clip_index.to(features.feats[0].device) * num_frames + t
                frame_feats = [x[:, positions] for x in features.feats]
            outputs.append(
                self._track_frame(t, frame_feats, features, hidden.shape[0], num_frames, memory, hidden, gate_no_obj)
            )
        return outputs

    @torch.no_grad()
    def segment(
        self,
        frames: torch.Tensor,
        hidden: torch.Tensor,
        chunk_size: int = 16,
        features: FrameFeatures | None = None,
    ) -> Iterator[tuple[int, FrameOutput]]:
        """Inference propagation over `frames (T, 3, S, S)` for `hidden (O, N_h, 256)`; yields `(t, FrameOutput)`.

        Frames are encoded in chunks just before they are tracked, once for all objects. Only the memory that SAM 2
        can still read is kept (6 mask memories, 15 object pointers), so memory stays flat on long videos.
        """
        if features is None:
            num_frames = frames.shape[0]
            chunks = (frames[start : start + chunk_size] for start in range(0, num_frames, chunk_size))
            yield from self.segment_stream(chunks, num_frames, hidden)
            return
        memory = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        num_frames, num_objects = features.num_frames, hidden.shape[0]
        for t in range(num_frames):
            frame_feats = [x[:, t : t + 1] for x in features.feats]
            out = self._track_frame(t, frame_feats, features, num_objects, num_frames, memory, hidden, True)
            self._forget_unread(memory, t)
            yield t, out

    def _forget_unread(self, memory: dict, t: int) -> None:
        """After frame `t`: drop what memory attention will not read again (mask memories older than `num_maskmem - 1`
        frames keep only their object pointer; pointers older than `max_obj_ptrs_in_encoder - 1` frames go)."""
        stale = memory["non_cond_frame_outputs"]
        old_mem = t - (self.num_maskmem - 1)
        if old_mem in stale:
            stale[old_mem] = {"obj_ptr": stale[old_mem]["obj_ptr"]}
        stale.pop(t - (self.max_obj_ptrs_in_encoder - 1), None)

    @torch.no_grad()
    def segment_stream(
        self,
        chunks: Iterable[torch.Tensor],
        num_frames: int,
        hidden: torch.Tensor,
        offload_state: bool = False,
    ) -> Iterator[tuple[int, FrameOutput]]:
        """`segment` over a clip of `num_frames` frames that arrives as chunks `(n, 3, S, S)` (normalised, on the
        model's device): each chunk is encoded when its turn comes, in one image-encoder call as `segment` encodes its
        chunks, then tracked frame by frame with the same pruned memory, so the outputs equal `segment`'s with
        `chunk_size` equal to the chunks' length. Nothing of a chunk outlives it but the memory SAM 2 still reads.

        `offload_state` moves each kept frame's memory-bank features to the CPU after the frame (SAM 2's
        `offload_state_to_cpu`; SAM 2 moves them back as memory attention reads them).
        """
        num_objects = hidden.shape[0]
        memory = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        t = 0
        for chunk in chunks:
            if t + chunk.shape[0] > num_frames:
                raise ValueError(f"the chunks hold more than the {num_frames} frames announced")
            features = self.encode_frames(chunk, max(1, chunk.shape[0]))
            for local in range(chunk.shape[0]):
                frame_feats = [x[:, local : local + 1] for x in features.feats]
                out = self._track_frame(t, frame_feats, features, num_objects, num_frames, memory, hidden, True)
                self._forget_unread(memory, t)
                if offload_state:
                    entry = memory["cond_frame_outputs" if t == 0 else "non_cond_frame_outputs"][t]
                    for key in ("maskmem_features", "pred_masks"):
                        if entry.get(key) is not None:
                            entry[key] = entry[key].to("cpu")
                    if entry.get("maskmem_pos_enc") is not None:
                        entry["maskmem_pos_enc"] = [x.to("cpu") for x in entry["maskmem_pos_enc"]]
                yield t, out
                t += 1
        if t != num_frames:
            raise ValueError(f"the chunks held {t} frames, {num_frames} were announced")

    def per_object_segment(self, frames: torch.Tensor, hidden: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
        """Reference path of the original implementation (P1): one session per object, frames re-encoded each time.

        Kept for benchmarks and equivalence tests. Returns `(O, T, S, S)` gated logits.
        """
        tracks = []
        for obj in range(hidden.shape[0]):
            frames_out = [out.best_logits for _, out in self.segment(frames, hidden[obj : obj + 1], chunk_size)]
            tracks.append(torch.cat(frames_out, dim=1))
        return torch.cat(tracks, dim=0)
