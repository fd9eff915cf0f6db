"""Checks shared by the loader tests: a sample's processed tokens, labels and masks, and a tiny-model forward."""

from __future__ import annotations

import numpy as np
import torch

from unipixel.data.processor import IGNORE_INDEX, Sample, model_inputs
from unipixel.data.templates import SEG


def check_sample(sample: Sample, processor) -> dict:
    """Processor output of `sample`, after checking token counts, supervised text and object/mask alignment."""
    item = processor(sample)
    ids, labels = item["input_ids"], item["labels"]
    answers = [t["content"] for t in sample.conversation if t["role"] == "assistant"]
    # one <|seg|> per object, in answer order
    n_seg = int((ids == processor.seg_token_id).sum())
    assert n_seg == sum(a.count(SEG) for a in answers)
    if sample.seg_masks is not None:
        assert sample.seg_masks.dtype == bool and sample.seg_masks.ndim == 4
        assert sample.seg_masks.shape[0] == n_seg
        assert sample.seg_masks.shape[1:] == sample.frames.shape[:3]
        assert item["seg_masks"].shape == (
            n_seg,
            sample.frames.shape[0],
            processor.sam2_image_size,
            processor.sam2_image_size,
        )
        assert sample.seg_masks.reshape(n_seg, -1).any(1).all(), "every object has pixels"
    # visual tokens: exactly the grid's merged-token count, never supervised
    if sample.frames is not None:
        grid = item["video_grid_thw" if sample.as_video else "image_grid_thw"]
        pad = processor.video_token_id if sample.as_video else processor.image_token_id
        assert int((ids == pad).sum()) == int(grid.prod()) // processor.merge_size**2
        assert (labels[ids == pad] == IGNORE_INDEX).all()
    # labels supervise exactly the answers and their closing <|im_end|>
    supervised = processor.tokenizer.decode(ids[labels != IGNORE_INDEX].tolist())
    assert supervised == "".join(a + "<|im_end|>" for a in answers)
    return item


def forward(model, processor, samples: list[Sample]):
    """Collate processed samples and run the tiny model's forward + backward; returns the model output."""
    batch = processor.collate([processor(s) for s in samples])
    out = model(**model_inputs(batch))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    return out


def mask_of(sample: Sample, obj: int) -> np.ndarray:
    return np.asarray(sample.seg_masks[obj, 0])
