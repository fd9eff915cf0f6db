"""Mask helpers shared by the data pipeline and the model (neither imports the other)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masks_to_token_grid(masks: torch.Tensor, grid_thw: tuple[int, int, int], patch_size: int = 14) -> torch.Tensor:
    """Object masks → one boolean per (object, temporal group, merged visual token): the `refer_mask` of `<|mem|>`.

    Args:
        masks: `(O, T, H, W)` bool/float masks at any resolution, on the frames shown to the LLM.
        grid_thw: the Qwen2.5-VL patch grid `(t, h, w)` of those frames (`t = ceil(T / 2)`, `h, w` in 14-px patches).
        patch_size: Qwen's patch size (14); a merged token covers `2 * patch_size` pixels.

    Returns:
        `(O, t, h // 2, w // 2)` bool. An odd frame count repeats the last frame; frame pairs are max-pooled (one entry
        per Qwen temporal group); masks are resized to the Qwen frame size `(h * 14, w * 14)` (bilinear with
        antialiasing, as the released code's torchvision `resize`: when shrinking, every source pixel under a target
        pixel counts, D5 in docs/fidelity.md) and max-pooled over each merged token's 28 x 28 pixels; a token is on
        when any of its pixels is.
    """
    grid_t, grid_h, grid_w = (int(v) for v in grid_thw)
    num_objects, num_frames = masks.shape[:2]
    if num_frames % 2:
        masks = torch.cat([masks, masks[:, -1:]], dim=1)
    if masks.shape[1] != 2 * grid_t:
        raise ValueError(f"masks cover {num_frames} frames but the visual grid has {grid_t} temporal groups")
    x = masks.float().reshape(num_objects, grid_t, 2, *masks.shape[-2:]).amax(dim=2)
    x = F.interpolate(
        x, size=(grid_h * patch_size, grid_w * patch_size), mode="bilinear", align_corners=False, antialias=True
    )
    x = F.max_pool2d(x, kernel_size=2 * patch_size)
    return x > 0
