"""Shared fixtures: offline hub, one CPU thread, the tiny tokenizer / model / processor and sample builders."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from unipixel.model.tiny import build_tiny_tokenizer

    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_cfg(tiny_tokenizer):
    from unipixel.model.tiny import tiny_config

    return tiny_config(tiny_tokenizer)


@pytest.fixture
def tiny_model(tiny_cfg):
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    return PixelQwen2_5_VLForConditionalGeneration(tiny_cfg)


@pytest.fixture(scope="session")
def processor(tiny_tokenizer):
    from unipixel.data.processor import PixelProcessor

    # 36 merged tokens per frame at most: a 6 x 6 token grid, wider than one 4 x 4 attention window.
    return PixelProcessor(tiny_tokenizer, sam2_image_size=128, target_frames=8, min_tokens=4, max_tokens=36)
