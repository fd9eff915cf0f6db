"""The full 3B / 7B architectures, built on the meta device, write exactly the released checkpoints' keys and shapes:
checked against the layout packaged with the repository (`unipixel/model/released`) always, and against the spec's
reference tables too when they are available (outside the repository)."""

import json

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from transformers.core_model_loading import revert_weight_conversion

from tests.conftest import REPO, SHARED
from unipixel.model import PixelQwen2_5_VLConfig, PixelQwen2_5_VLForConditionalGeneration

LAYOUT = SHARED / "spec" / "released_layout"
needs_layout = pytest.mark.skipif(not LAYOUT.exists(), reason="released-layout reference files not available")


def released_keys(size: str) -> dict[str, tuple[int, ...]]:
    rows = [
        line.rstrip("\n").split("\t") for line in open(LAYOUT / f"unipixel{size}_keys.tsv") if not line.startswith("#")
    ]
    header, rows = rows[0], rows[1:]
    assert header[:3] == ["disk_key", "in_memory_key", "shape"] and header[6] == "in_checkpoint"
    return {r[0]: tuple(int(x) for x in r[2].split("x")) for r in rows if r[6] == "yes"}


def written_keys(size: str) -> dict[str, tuple[int, ...]]:
    """Names and shapes `save_pretrained` writes for the full architecture (tied copies left out)."""
    config = instantiate(OmegaConf.load(REPO / "configs" / "model" / f"unipixel_{size}.yaml").config)
    with torch.device("meta"):
        model = PixelQwen2_5_VLForConditionalGeneration(config)
    state = revert_weight_conversion(model, model.state_dict())  # the names save_pretrained writes
    tied = set(model.all_tied_weights_keys)
    return {k: tuple(v.shape) for k, v in state.items() if k not in tied}


@pytest.mark.parametrize("size,count", [("3b", 1475), ("7b", 1380)])
def test_full_architecture_matches_the_packaged_layout(size, count):
    from unipixel.model.released import load_layout

    expected = load_layout(f"UniPixel-{size.upper()}")["keys"]
    ours = written_keys(size)
    assert len(expected) == count
    assert sorted(set(expected) - set(ours)) == [], "keys of the release we do not have"
    assert sorted(set(ours) - set(expected)) == [], "keys we have that the release does not"
    assert {k: v for k, v in ours.items() if v != tuple(expected[k])} == {}


@needs_layout
@pytest.mark.parametrize("size,count", [("3b", 1475), ("7b", 1380)])
def test_full_architecture_matches_released_keys(size, count):
    ours = written_keys(size)
    expected = released_keys(size)
    assert len(expected) == count
    assert sorted(set(expected) - set(ours)) == [], "keys of the release we do not have"
    assert sorted(set(ours) - set(expected)) == [], "keys we have that the release does not"
    assert {k: v for k, v in ours.items() if v != expected[k]} == {}


@needs_layout
@pytest.mark.parametrize("size", ["3b", "7b"])
def test_released_config_json_loads(size):
    raw = json.loads((LAYOUT / f"unipixel{size}_config.simulated.json").read_text())
    config = PixelQwen2_5_VLConfig(**raw)
    assert config.model_type == "pixel_qwen2_5_vl"
    assert (config.ref_token_id, config.seg_token_id, config.mem_token_id) == (151665, 151666, 151667)
    assert config.sam2_image_size == 768 and config.sam2_hidden_tokens == 2 and config.sample_objects == 5
    assert config.sam2_config == "configs/sam2.1_hiera_b+" and config.mem_token_order == "window"
    assert config.tie_word_embeddings == (size == "3b")
    ours = OmegaConf.load(REPO / "configs" / "model" / f"unipixel_{size}.yaml").config
    for field in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size"):
        assert ours.text_config[field] == getattr(config.text_config, field)
    for field in ("depth", "hidden_size", "out_hidden_size"):
        assert ours.vision_config[field] == getattr(config.vision_config, field)
    assert list(ours.vision_config.fullatt_block_indexes) == list(config.vision_config.fullatt_block_indexes)


def test_config_rejects_unknown_mem_order():
    with pytest.raises(ValueError, match="mem_token_order"):
        PixelQwen2_5_VLConfig(mem_token_order="diagonal")
