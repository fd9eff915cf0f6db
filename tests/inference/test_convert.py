"""`tools/convert_checkpoint.py`: export of a training output with LoRA, SAM 2.1 conversion both ways, fingerprint of
released checkpoint folders (against the spec's simulated index when it is available)."""

import json
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.conftest import SHARED
from tests.inference.helpers import load_tool
from unipixel.model.released import MODELS, build_layout, fingerprint, load_layout, released_name

SPEC_LAYOUT = SHARED / "spec" / "released_layout"


@pytest.fixture(scope="module")
def tool():
    return load_tool("convert_checkpoint")


# ------------------------------------------------------------------------------------------------ export
def test_export_of_a_lora_training_output_equals_the_merged_model(tool, tmp_path):
    """A stage-3 output (partial weights + LoRA adapters, as the trainer saves them) → one full model whose outputs
    equal the LoRA model's and whose weights equal peft's own merge."""
    from tests.train.conftest import compose_train
    from tests.train.synthetic import SyntheticDataset
    from unipixel.data.processor import PixelProcessor, model_inputs
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.train.run import build_stage

    cfg = compose_train(
        [
            "experiment=unipixel_3b",
            "model=tiny",
            "hardware=cpu",
            f"output_dir={tmp_path / 'run'}",
            "train.report_to=[]",
            "stages.stage3.partial_checkpoints=[]",
            "stages.stage3.lora.r=4",
            "stages.stage3.lora.alpha=8",
        ]
    )
    data = SyntheticDataset(4)
    trainer, tokenizer, stage_dir = build_stage(cfg, "stage3", dataset=data)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # stand-in for training: move every trained tensor, LoRA B included (it starts at 0)
        for param in trainer.model.parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn(param.shape, generator=generator))
    checkpoint = stage_dir / "checkpoint-7"
    trainer._save(str(checkpoint))
    assert (checkpoint / "adapter_model.safetensors").is_file() and (checkpoint / "adapter_config.json").is_file()

    out = tmp_path / "full"
    assert tool.main(["export", str(stage_dir), str(out)]) == 0
    full = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(out).eval()  # strict: no LoRA names left
    processor = PixelProcessor(tokenizer, sam2_image_size=128)
    batch = model_inputs(processor.collate([processor(data[2])]))
    q = "model.language_model.layers.0.self_attn.q_proj"
    base_q = trainer.model.get_parameter(f"base_model.model.{q}.base_layer.weight").detach().clone()
    trainer.model.eval()
    with torch.no_grad():
        expected = trainer.model(**batch).logits
        got = full(**batch).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    merged = trainer.model.merge_and_unload().state_dict()
    for key, value in full.state_dict().items():
        torch.testing.assert_close(value, merged[key], atol=1e-6, rtol=1e-6, msg=key)
    assert not torch.equal(full.state_dict()[f"{q}.weight"], base_q), "the LoRA delta is merged in"
    assert (out / "tokenizer.json").is_file() or (out / "tokenizer_config.json").is_file()


def test_export_refuses_what_is_not_a_training_output(tool, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a training output"):
        tool.export(tmp_path, tmp_path / "out")
    (tmp_path / "config.yaml").write_text("stages: {}\n")
    with pytest.raises(FileNotFoundError, match="neither partial_model.safetensors nor checkpoint-"):
        tool.export(tmp_path, tmp_path / "out")


# ------------------------------------------------------------------------------------------------ SAM 2
def test_sam2_round_trip_and_strict_load(tool, tiny_model, tmp_path):
    """Official tiny SAM 2 .pt → UniPixel names → back: identical; the converted tensors load into a UniPixel
    checkpoint through `from_pretrained` strictly and land in `model.sam2` unchanged."""
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.model.sam2_adapter import build_sam2

    cfg = tiny_model.config
    torch.manual_seed(5)
    official = build_sam2(cfg.sam2_config, cfg.sam2_image_size, 0.0, cfg.sam2_overrides).state_dict()
    assert "memory_encoder.fuser.layers.0.gamma" in official
    torch.save({"model": official}, tmp_path / "sam2.pt")
    assert tool.main(["sam2", str(tmp_path / "sam2.pt"), str(tmp_path / "sam2.safetensors")]) == 0
    ours = load_file(str(tmp_path / "sam2.safetensors"))
    assert set(ours) == {"sam2." + k.replace("fuser.layers.0.gamma", "fuser.layers.0.weight") for k in official}
    assert tool.main(["sam2", str(tmp_path / "sam2.safetensors"), str(tmp_path / "back.pt")]) == 0
    back = torch.load(tmp_path / "back.pt", weights_only=True)["model"]
    assert set(back) == set(official) and all(torch.equal(back[k], official[k]) for k in official)

    tiny_model.save_pretrained(tmp_path / "ckpt")
    state = load_file(str(tmp_path / "ckpt" / "model.safetensors"))
    assert set(ours) <= set(state), "the converted names are the on-disk names of a UniPixel checkpoint"
    state.update(ours)
    save_file(state, str(tmp_path / "ckpt" / "model.safetensors"), metadata={"format": "pt"})
    loaded = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "ckpt")
    for key, value in official.items():
        assert torch.equal(loaded.sam2.state_dict()[key], value), key
    # and out of a whole checkpoint folder again
    assert tool.main(["sam2", str(tmp_path / "ckpt"), str(tmp_path / "from_folder.pt")]) == 0
    again = torch.load(tmp_path / "from_folder.pt", weights_only=True)["model"]
    assert all(torch.equal(again[k], official[k]) for k in official)


def test_sam2_bplus_keys_are_the_released_ones(tool, tmp_path):
    """A (meta-size) SAM 2.1 Hiera-B+ state dict converts to exactly the released `sam2.*` names and shapes."""
    from unipixel.model.sam2_adapter import build_sam2

    official = {k: torch.zeros(v.shape) for k, v in build_sam2("configs/sam2.1_hiera_b+", 768).state_dict().items()}
    released = {k: v for k, v in load_layout("UniPixel-3B")["keys"].items() if k.startswith("sam2.")}
    converted = tool.official_to_released(official)
    assert {k: tuple(v.shape) for k, v in converted.items()} == released
    broken = dict(official)
    broken["no_mem_embed"] = torch.zeros(1, 1, 128)
    torch.save({"model": broken}, tmp_path / "broken.pt")
    with pytest.raises(ValueError, match="no_mem_embed"):
        tool.convert_sam2(tmp_path / "broken.pt", tmp_path / "out.safetensors")


# ------------------------------------------------------------------------------------------------ fingerprint
def fake_index(folder, name, edit=None, total_size=None, source="ours"):
    """A released-looking `model.safetensors.index.json` over two shards, built from the packaged layout (`source=
    "ours"`, every test's default, so a result never depends on material outside the repository) or read from the
    spec's simulated index (`source="spec"`, an extra case when that file is available)."""
    if source == "spec":
        index = json.loads((SPEC_LAYOUT / f"{MODELS[name]}_model.safetensors.index.simulated.json").read_text())
    else:
        layout = load_layout(name)
        keys = sorted(layout["keys"])
        half = len(keys) // 2
        weight_map = {k: f"model-0000{1 + (i >= half)}-of-00002.safetensors" for i, k in enumerate(keys)}
        index = {"metadata": {"total_size": layout["total_size"]}, "weight_map": weight_map}
    if edit is not None:
        edit(index["weight_map"])
    if total_size is not None:
        index["metadata"]["total_size"] = total_size
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


def spec_index_available(name: str) -> bool:
    return (SPEC_LAYOUT / f"{MODELS[name]}_model.safetensors.index.simulated.json").is_file()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fingerprint_accepts_a_matching_index(tool, tmp_path, name, capsys):
    folder = fake_index(tmp_path / name, name)
    result = fingerprint(folder)
    assert result.ok and result.model == name, result.report()
    assert tool.main(["fingerprint", str(folder)]) == 0 and f"OK, {name}" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fingerprint_accepts_the_spec_simulated_index(tool, tmp_path, name, capsys):
    """An extra case: the spec's simulated index of the release (skipped when that reference is not available)."""
    if not spec_index_available(name):
        pytest.skip("the spec's simulated index is not available (reference material outside the repository)")
    folder = fake_index(tmp_path / name, name, source="spec")
    result = fingerprint(folder)
    assert result.ok and result.model == name, result.report()
    assert tool.main(["fingerprint", str(folder)]) == 0 and f"OK, {name}" in capsys.readouterr().out


def test_fingerprint_rejects_wrong_total_size_and_missing_key(tool, tmp_path, capsys):
    wrong = fingerprint(fake_index(tmp_path / "size", "UniPixel-3B", total_size=7_763_529_630))
    assert not wrong.ok and "total_size 7,763,529,630 bytes matches no released checkpoint" in wrong.errors[0]
    missing = fingerprint(fake_index(tmp_path / "key", "UniPixel-7B", edit=lambda m: m.pop("seg_head.3.bias")))
    assert not missing.ok and missing.missing == ["seg_head.3.bias"] and not missing.errors
    assert tool.main(["fingerprint", str(tmp_path / "key")]) == 1
    assert "missing keys (1): seg_head.3.bias" in capsys.readouterr().out
    extra = fingerprint(fake_index(tmp_path / "extra", "UniPixel-3B", edit=lambda m: m.update({"lm_head.weight": "x"})))
    assert not extra.ok and extra.unexpected == ["lm_head.weight"], "3B stores no lm_head (tied)"
    assert not fingerprint(tmp_path / "nothing").ok


def test_fingerprint_accepts_the_transformers5_spelling(tmp_path):
    def respell(weight_map):
        for key in list(weight_map):
            new = key.replace("visual.", "model.visual.", 1) if key.startswith("visual.") else key
            new = new.replace("model.layers.", "model.language_model.layers.", 1)
            new = new.replace("fuser.layers.0.weight", "fuser.layers.0.gamma")
            weight_map[new] = weight_map.pop(key)

    result = fingerprint(fake_index(tmp_path / "new", "UniPixel-3B", edit=respell))
    assert result.ok, result.report()
    assert released_name("model.language_model.norm.weight") == "model.norm.weight"


def write_header_only_shard(path, tensors: dict[str, tuple[str, tuple]]):
    """A safetensors header (names, dtypes, shapes) without the data: all the fingerprint reads."""
    header, offset = {}, 0
    for key, (dtype, shape) in tensors.items():
        size = 2
        for v in shape:
            size *= v
        header[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob)


def test_fingerprint_checks_shard_shapes_and_dtypes(tmp_path):
    layout = load_layout("UniPixel-3B")
    folder = fake_index(tmp_path / "shards", "UniPixel-3B")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) == 2, "one shard stays, one goes missing below"
    for shard in shards:
        keys = [k for k, s in index["weight_map"].items() if s == shard]
        tensors = {k: ("BF16", layout["keys"][k]) for k in keys}
        if "tem_proj.bias" in tensors:
            tensors["tem_proj.bias"] = ("BF16", (767,))
        if "ref_proj.1.bias" in tensors:
            tensors["ref_proj.1.bias"] = ("F32", layout["keys"]["ref_proj.1.bias"])
        write_header_only_shard(folder / shard, tensors)
    result = fingerprint(folder)
    assert result.shape_mismatch == ["tem_proj.bias (767,) != (768,)"]
    assert result.dtype_mismatch == ["ref_proj.1.bias F32 != BF16"] and not result.ok
    (folder / shards[-1]).unlink()
    assert fingerprint(folder).missing_shards == [shards[-1]]


@pytest.mark.skipif(not SPEC_LAYOUT.is_dir(), reason="the spec's layout tables are not available")
def test_packaged_layouts_are_the_spec_tables(tmp_path):
    """The shipped data is what the spec tables give (and their shapes add up to the index's total size)."""
    for name, stem in MODELS.items():
        index = next(SPEC_LAYOUT.glob(f"{stem}_model.safetensors.index*.json"))
        built = build_layout(name, SPEC_LAYOUT / f"{stem}_keys.tsv", index)
        packaged = load_layout(name)
        assert {k: tuple(s) for k, s in built["keys"]} == packaged["keys"]
        assert built["total_size"] == packaged["total_size"]


def test_export_of_a_real_stage3_checkpoint(tool, tmp_path):
    """The same on a checkpoint the trainer wrote while training (two optimizer steps of stage 3, tiny model)."""
    from tests.train.conftest import compose_train
    from tests.train.synthetic import SyntheticDataset
    from unipixel.data.processor import PixelProcessor, model_inputs
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.train.run import build_stage

    overrides = ["experiment=unipixel_3b", "model=tiny", "hardware=cpu", f"output_dir={tmp_path / 'run'}"]
    overrides += ["train.report_to=[]", "train.dataloader_num_workers=0", "train.disable_tqdm=true"]
    overrides += ["stages.stage3.partial_checkpoints=[]", "stages.stage3.lora.r=4", "stages.stage3.lora.alpha=8"]
    overrides += ["stages.stage3.global_batch_size=2", "stages.stage3.max_steps=2", "stages.stage3.save_steps=2"]
    overrides += ["stages.stage3.learning_rate=1e-2"]
    data = SyntheticDataset(4)
    trainer, tokenizer, stage_dir = build_stage(compose_train(overrides), "stage3", dataset=data)
    trainer.train()
    assert (stage_dir / "checkpoint-2" / "adapter_model.safetensors").is_file()
    assert tool.main(["export", str(stage_dir / "checkpoint-2"), str(tmp_path / "full")]) == 0
    full = PixelQwen2_5_VLForConditionalGeneration.from_pretrained(tmp_path / "full").eval()
    processor = PixelProcessor(tokenizer, sam2_image_size=128)
    batch = model_inputs(processor.collate([processor(data[1])]))
    trainer.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(full(**batch).logits, trainer.model(**batch).logits, atol=1e-4, rtol=1e-4)


def test_export_from_a_moved_run_folder_is_self_contained(tool, tmp_path, monkeypatch):
    """A stage-3 output whose config names earlier stages' partial checkpoints: the whole run folder moves, the export
    runs from another working directory, and the exported folder carries the trained pixel budget."""
    from tests.train.conftest import compose_train
    from tests.train.synthetic import SyntheticDataset
    from unipixel.inference import Predictor
    from unipixel.inference.predictor import PROCESSOR_FILE
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.model.tiny import build_tiny_tokenizer, tiny_config
    from unipixel.train.checkpoint import save_partial
    from unipixel.train.run import build_stage

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(3)
    earlier = PixelQwen2_5_VLForConditionalGeneration(tiny_config(build_tiny_tokenizer()))
    save_partial(earlier, "run/stage1", ["ref"])
    save_partial(earlier, "run/stage2", ["seg"])
    overrides = ["experiment=unipixel_3b", "model=tiny", "hardware=cpu", "output_dir=run", "train.report_to=[]"]
    overrides += ["stages.stage3.lora.r=4", "stages.stage3.lora.alpha=8"]
    overrides += ["+stages.stage3.data.processor={min_tokens:16,max_tokens:64}"]
    trainer, _, stage_dir = build_stage(compose_train(overrides), "stage3", dataset=SyntheticDataset(2))
    trainer._save(str(stage_dir / "checkpoint-1"))

    (tmp_path / "run").rename(tmp_path / "moved")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert tool.main(["export", str(tmp_path / "moved" / "stage3"), "full"]) == 0
    full = tmp_path / "elsewhere" / "full"
    assert json.loads((full / PROCESSOR_FILE).read_text()) == {"min_tokens": 16, "max_tokens": 64}
    predictor = Predictor.from_pretrained(full, device="cpu")
    assert (predictor.processor.min_tokens, predictor.processor.max_tokens) == (16, 64)
    ref_key = "ref_proj.1.bias"
    assert torch.equal(predictor.model.state_dict()[ref_key], earlier.state_dict()[ref_key]), "stage 1's tensors"

    (tmp_path / "moved" / "stage1").rename(tmp_path / "moved" / "gone")
    with pytest.raises(FileNotFoundError, match="loads the partial checkpoint .*stage1, found neither at"):
        tool.export(tmp_path / "moved" / "stage3", tmp_path / "again")
