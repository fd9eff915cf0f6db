"""3-D rotary (M-RoPE) position ids of Qwen2.5-VL as the released UniPixel was trained with them (D4).

The released checkpoints were trained and evaluated with transformers 4.53, whose rule differs from transformers 5's
in two places that matter for videos:

- temporal step of a video: `int(second_per_grid_ts) * tokens_per_second` per temporal group (4.53 casts the seconds
  per group to an integer before scaling); transformers 5 uses `tokens_per_second * second_per_grid_ts` unrounded.
- where text after a visual continues: at the largest position id the visual used + 1 (4.53), i.e. past the temporal
  extent too; transformers 5 continues at `start + max(h, w) / merge`, ignoring the temporal extent.

`mrope_position_ids` computes the 4.53 rule directly (no old transformers needed). With `mrope_rule="released"` the
model routes transformers' `get_rope_index` here, so forward, training and generation all use it.
"""

from __future__ import annotations

import itertools

import torch

TEXT, IMAGE, VIDEO = 0, 1, 2


def visual_position_ids(start: int, grid_thw, spatial_merge_size: int, time_step: int) -> torch.Tensor:
    """`(3, t * h * w)` ids (temporal, height, width) of one visual's merged tokens in raster order per group.

    `grid_thw` is the patch grid `(t, H, W)`; merged tokens form `(t, H / merge, W / merge)`. Temporal id of group g is
    `start + g * time_step`, height / width ids `start + row` / `start + column`.
    """
    groups, height, width = (int(v) for v in grid_thw)
    height, width = height // spatial_merge_size, width // spatial_merge_size
    t = torch.arange(groups).view(-1, 1, 1).expand(groups, height, width) * time_step
    h = torch.arange(height).view(1, -1, 1).expand(groups, height, width)
    w = torch.arange(width).view(1, 1, -1).expand(groups, height, width)
    return torch.stack([t, h, w]).reshape(3, -1) + start


def mrope_position_ids(
    input_ids: torch.Tensor,
    mm_token_type_ids: torch.Tensor,
    image_grid_thw: torch.Tensor | None,
    video_grid_thw: torch.Tensor | None,
    second_per_grid_ts: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    spatial_merge_size: int,
    tokens_per_second: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Qwen2.5-VL's M-RoPE ids by the transformers-4.53 rule.

    Args:
        input_ids: `(B, L)`. mm_token_type_ids: `(B, L)`, 0 text, 1 image, 2 video.
        image_grid_thw / video_grid_thw: `(N, 3)` patch grids, in order of appearance over the batch.
        second_per_grid_ts: `(N_videos,)` seconds per temporal group (`temporal_patch_size / sample_fps`; 1 for frame
            lists); cast to an integer as 4.53 does. None: 1 for every video.
        attention_mask: `(B, L)`; masked positions get id 1 and do not advance the count.

    Returns:
        `(3, B, L)` position ids and `(B, 1)` deltas (largest id + 1 - number of attended tokens), which generation
        adds to the cache position of each new token.
    """
    batch, length = input_ids.shape
    positions = torch.ones(3, batch, length, dtype=torch.long, device=input_ids.device)
    images = iter(image_grid_thw if image_grid_thw is not None else [])
    videos = iter(video_grid_thw if video_grid_thw is not None else [])
    seconds = iter(second_per_grid_ts if second_per_grid_ts is not None else [])
    deltas = []
    for row in range(batch):
        kinds = mm_token_type_ids[row]
        keep = torch.ones(length, dtype=torch.bool) if attention_mask is None else attention_mask[row].bool().cpu()
        kinds = kinds.cpu()[keep].tolist()
        parts, next_id = [], 0
        for kind, run in itertools.groupby(kinds):
            count = len(list(run))
            if kind == TEXT:
                part = torch.arange(count).view(1, -1).expand(3, -1) + next_id
                parts.append(part)
                next_id = int(part.max()) + 1
                continue
            while count > 0:  # one run of visual tokens may hold several visuals back to back
                name = "image" if kind == IMAGE else "video"
                grid = next(images if kind == IMAGE else videos, None)
                if grid is None:
                    raise ValueError(f"row {row}: more {name} placeholder tokens than {name} grids")
                step = 0
                if kind == VIDEO:
                    # 4.53 casts the seconds per group to an integer before scaling by tokens per second
                    step = int(torch.as_tensor(next(seconds, 1), dtype=torch.long)) * int(tokens_per_second)
                part = visual_position_ids(next_id, grid, spatial_merge_size, step)
                if part.shape[1] > count:
                    raise ValueError(f"row {row}: {name} grid {grid.tolist()} needs more tokens than the prompt holds")
                parts.append(part)
                next_id = int(part.max()) + 1
                count -= part.shape[1]
        row_ids = torch.cat(parts, dim=1) if parts else torch.zeros(3, 0, dtype=torch.long)
        positions[:, row, keep.to(positions.device)] = row_ids.to(positions.device)
        deltas.append(next_id - len(kinds))
    return positions, torch.tensor(deltas, device=input_ids.device).view(-1, 1)


def token_types(input_ids: torch.Tensor, image_token_id: int, video_token_id: int) -> torch.Tensor:
    """`mm_token_type_ids` from the placeholder ids (0 text, 1 image, 2 video)."""
    types = torch.zeros_like(input_ids)
    types[input_ids == image_token_id] = IMAGE
    types[input_ids == video_token_id] = VIDEO
    return types
