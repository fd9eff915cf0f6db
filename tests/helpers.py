"""Small builders shared by tests."""

import numpy as np


def box_masks(num_frames: int, height: int, width: int, boxes, frames_present=None) -> np.ndarray:
    """`(O, T, H, W)` masks of axis-aligned boxes `(x1, y1, x2, y2)` (moving 2 px right per frame)."""
    masks = np.zeros((len(boxes), num_frames, height, width), dtype=bool)
    for obj, (x1, y1, x2, y2) in enumerate(boxes):
        for t in range(num_frames):
            if frames_present is not None and t not in frames_present[obj]:
                continue
            masks[obj, t, y1:y2, x1 + 2 * t : x2 + 2 * t] = True
    return masks


def random_frames(num_frames: int, height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8)


def force_token(model, token_id: int, bias: float = 1e4):
    """Make a random model's greedy decoding emit `token_id` (a forward hook adds `bias` to that logit)."""

    def hook(module, args, output):
        output = output.clone()
        output[..., token_id] += bias
        return output

    return model.lm_head.register_forward_hook(hook)
