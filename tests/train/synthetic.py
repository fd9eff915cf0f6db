"""An in-memory dataset of the four sample kinds the stages train on (no files), for trainer tests."""

import numpy as np
import torch

from tests.helpers import box_masks
from unipixel.data.processor import Sample


class SyntheticDataset(torch.utils.data.Dataset):
    """`kinds` cycles over `seg_image`, `seg_video`, `ref_point`, `region_video`; deterministic by index."""

    def __init__(self, size: int = 8, kinds=("seg_image", "seg_video", "ref_point", "region_video")):
        self.kinds = [kinds[i % len(kinds)] for i in range(size)]

    @property
    def data_types(self):
        return list(self.kinds)

    def __len__(self):
        return len(self.kinds)

    def __getitem__(self, idx):
        rng = np.random.default_rng(idx)
        kind = self.kinds[idx]
        frames_n = 1 if kind == "seg_image" else 4
        frames = rng.integers(0, 255, (frames_n, 56, 84, 3), dtype=np.uint8)
        x = int(rng.integers(0, 30))
        masks = box_masks(frames_n, 56, 84, [(x, 10, x + 20, 40)])
        if kind in ("seg_image", "seg_video"):
            conv = [
                {"role": "user", "content": "Please segment the red square."},
                {"role": "assistant", "content": "The target is <|seg|>."},
            ]
            return Sample(f"s{idx}", "synthetic", frames, conv, seg_masks=masks, data_type=kind)
        if kind == "ref_point":
            conv = [
                {"role": "user", "content": "Give me a short description of <|ref|>."},
                {"role": "assistant", "content": "a red square"},
            ]
            prompts = np.array([[0, x + 10, 25, 0, 0, 0]], dtype=np.float32)
            return Sample(f"s{idx}", "synthetic", frames, conv, ref_prompts=prompts, data_type=kind)
        groups = " ".join(f"<{2 * g + 1}>-<{2 * g + 2}> <|mem|>" for g in range(2))
        conv = [
            {"role": "user", "content": f"[0]: {groups}\nWhat is [0]?"},
            {"role": "assistant", "content": "a red square"},
        ]
        return Sample(f"s{idx}", "synthetic", frames, conv, refer_masks=masks, data_type=kind)
