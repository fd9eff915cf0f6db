"""D3: the LLM path resizes images and frame lists with PIL (bicubic, 8-bit) as the released code does, and frames
decoded from a video file with torch's antialiased bicubic, as Qwen's own video reader does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from unipixel.data.processor import Sample, resize_frames


def frames(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (2, 37, 53, 3)).astype(np.float32)
    # smooth plus noise: realistic enough that the two bicubic kernels round differently on some values
    return np.clip(base.cumsum(axis=2) / np.arange(1, 54)[None, None, :, None] + rng.normal(0, 8, base.shape), 0, 255)


def test_pil_resize_is_pil_bicubic():
    video = frames().astype(np.uint8)
    got = resize_frames(torch.from_numpy(video), (28, 56), "pil")
    expected = np.stack([np.asarray(Image.fromarray(f).resize((56, 28), Image.BICUBIC)) for f in video])
    assert got.dtype == torch.uint8 and got.shape == (2, 3, 28, 56)
    assert torch.equal(got, torch.from_numpy(expected).permute(0, 3, 1, 2))


def test_torch_resize_is_antialiased_bicubic_rounded():
    video = torch.from_numpy(frames(1).astype(np.uint8))
    got = resize_frames(video, (28, 56), "torch")
    x = torch.nn.functional.interpolate(
        video.permute(0, 3, 1, 2).float(), size=(28, 56), mode="bicubic", align_corners=False, antialias=True
    )
    assert torch.equal(got, x.round().clamp(0, 255).to(torch.uint8))
    pil = resize_frames(video, (28, 56), "pil")
    assert not torch.equal(got, pil)  # the two kernels do differ: the choice matters
    assert (got.int() - pil.int()).abs().max() <= 8


def test_unknown_resize_is_refused():
    with pytest.raises(ValueError, match="unknown LLM frame resize"):
        resize_frames(torch.zeros(1, 4, 4, 3, dtype=torch.uint8), (2, 2), "nearest")


def test_processor_picks_the_resize_from_the_sample(processor):
    video = frames(2).astype(np.uint8)
    conv = [{"role": "user", "content": "hi"}]
    as_list = processor(Sample("a", "x", video, conv), with_sam2=False)
    as_file = processor(Sample("b", "x", video, conv, meta={"llm_resize": "torch"}), with_sam2=False)
    size = tuple(int(v) * 14 for v in as_list["video_grid_thw"][1:])
    direct = processor.visual_inputs(torch.from_numpy(video), True, None, "pil")["pixels"]
    assert torch.equal(as_list["pixel_values_videos"], direct)
    assert not torch.equal(as_list["pixel_values_videos"], as_file["pixel_values_videos"])
    assert size == tuple(resize_frames(torch.from_numpy(video), size).shape[-2:])
