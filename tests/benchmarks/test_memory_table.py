"""`benchmarks/memory_table.py`: parameter counts equal what peft and the stage selection really train, the byte
arithmetic equals a hand computation, presets are read from configs/, saved-activation measurement is exact on a
small graph and scales with pixels within stated bounds."""

import importlib.util
import sys

import pytest
import torch

from tests.conftest import REPO

GIB = 2**30


@pytest.fixture(scope="module")
def mt():
    spec = importlib.util.spec_from_file_location("memory_table", REPO / "benchmarks" / "memory_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_counts_match_the_real_stage_selection(mt, tiny_cfg):
    from unipixel.model import PixelQwen2_5_VLForConditionalGeneration
    from unipixel.train.modules import configure_trainable

    stages = mt.load_stages()
    assert stages["stage3"]["lora"]["r"] == 128 and stages["stage1"]["lora"] is None
    counts = mt.count_parameters(tiny_cfg, stages, "tiny")
    for stage, spec in stages.items():
        torch.manual_seed(0)
        model = PixelQwen2_5_VLForConditionalGeneration(tiny_cfg)
        plain_total = sum(p.numel() for p in model.parameters())
        fp32 = sum(p.numel() for n, p in model.named_parameters() if n.split(".")[0] in mt.FP32_MODULES)
        model = configure_trainable(model, spec["tuning_modules"], spec["lora"])
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        adapters = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
        assert counts.total == plain_total and counts.fp32 == fp32
        assert counts.trainable[stage] == trainable, stage
        assert counts.lora[stage] == adapters, stage
    assert counts.lora["stage3"] > 0 and counts.trainable["stage1"] < counts.trainable["stage3"]


def make_counts(mt):
    return mt.ModelCounts(
        name="toy",
        total=1000,
        fp32=100,
        sam2=80,
        largest_module=50,
        trainable={"stage3": 200},
        trainable_fp32={"stage3": 60},
        lora={"stage3": 40},
        dims=dict(d=10, layers=3, d_kv=4, d_ff=20, vocab=30, vit_d=6, vit_layers=2, vit_ff=8),
    )


def test_memory_by_hand(mt):
    counts = make_counts(mt)
    acts = {"x": 500.0}
    ddp = mt.gpu_memory(counts, "stage3", mt.Preset("ddp", 0, False, False, 4), acts)
    # weights 2 x 900 + 4 x 100 + 4 x 40 LoRA; grads 2 x 140 + 4 x 60; Adam 12 x 200
    assert (ddp["weights"], ddp["grads"], ddp["optimizer"]) == (2360, 520, 2400)
    assert ddp["overhead"] == GIB and ddp["total"] == 2360 + 520 + 2400 + 500 + GIB
    plain_adam = mt.gpu_memory(counts, "stage3", mt.Preset("ddp", 0, False, False, 1), acts, master_weights=False)
    assert plain_adam["optimizer"] == 2 * 2 * 140 + 2 * 4 * 60  # m and v in the parameters' own dtypes
    z2 = mt.gpu_memory(counts, "stage3", mt.Preset("z2", 2, False, False, 4), acts)
    # buckets: 4.5 x d^2 x 2 bytes, plus min(5e8, 200 / 4) x 2
    assert (z2["weights"], z2["grads"], z2["optimizer"], z2["overhead"]) == (2360, 130, 600, GIB + 900 + 100)
    z2_off = mt.gpu_memory(counts, "stage3", mt.Preset("z2o", 2, True, False, 4), acts)
    assert z2_off["optimizer"] == 0 and z2_off["grads"] == 130
    z3 = mt.gpu_memory(counts, "stage3", mt.Preset("z3", 3, False, False, 4), acts)
    assert (z3["weights"], z3["grads"], z3["optimizer"], z3["overhead"]) == (2360 / 4 + 200, 130, 600, GIB + 900)
    z3_off = mt.gpu_memory(counts, "stage3", mt.Preset("z3o", 3, True, True, 1), acts)
    assert (z3_off["weights"], z3_off["grads"], z3_off["optimizer"]) == (200, 520, 0)


def test_activation_terms_by_hand(mt):
    counts = make_counts(mt)
    sam2 = mt.Sam2Activations(768, 256, 1000.0, 100.0, 10.0, 1.0)
    work = mt.Workload(tokens=7, patches=12, sam2_frames=4)
    llm = 3 * 7 * 10 * 2 + 7 * (14 * 10 + 2 * 4 + 4 * 20) * 2
    s1 = mt.activation_bytes(counts, "stage1", work, sam2)
    assert s1 == {"llm": llm, "logits": 7 * 30 * 10, "vit": 0.0, "sam2": 0.0}
    s2 = mt.activation_bytes(counts, "stage2", work, sam2)
    assert s2["vit"] == 0 and s2["sam2"] == 4 * (100 + 2 * 1.0) + 2 * 80  # 3 objects, SAM 2 frozen
    s3 = mt.activation_bytes(counts, "stage3", work, sam2)
    assert s3["vit"] == 2 * 12 * 6 * 2 + 12 * (14 * 6 + 2 * 6 + 4 * 8) * 2
    assert s3["sam2"] == 4 * (1000 + 4 * 10.0) + 2 * 80  # 5 objects, SAM 2 trained


def test_presets_read_from_configs(mt):
    presets = mt.load_presets(8)
    assert "cpu" not in presets
    got = {n: (p.zero, p.offload_optimizer, p.offload_params, p.world, p.card_gb) for n, p in presets.items()}
    assert got == {
        "gpu": (0, False, False, 8, None),
        "zero2": (2, False, False, 8, None),
        "zero2_offload": (2, True, False, 8, None),
        "zero3": (3, False, False, 8, None),
        "gpu24gb": (3, True, True, 1, 24.0),  # card presets: estimated on the GPUs their `card:` states
        "gpu48gb": (3, False, False, 8, 48.0),
        "gpu80gb": (2, False, False, 8, 80.0),
    }


def test_fastest_fit(mt):
    totals = {"gpu": 70e9, "zero2": 45e9, "zero3": 20e9, "gpu24gb": 10e9}
    # card presets are not ranked with the ZeRO presets (their stage-3 workload differs)
    assert [mt.fastest_fit(totals, c) for c in (24, 48, 80, 10)] == ["zero3", "zero2", "gpu", "-"]


def test_saved_activation_bytes_exact(mt):
    layer = torch.nn.Linear(4, 3)
    x = torch.randn(5, 4, requires_grad=True)
    # linear keeps its input (5 x 4 fp32 = 80 bytes; the weight is a parameter, left out); relu keeps its output (60)
    assert mt.saved_activation_bytes(lambda: layer(x).relu(), list(layer.parameters())) == 80 + 60


def test_sam2_measurement_scales_with_pixels(mt):
    from unipixel.model.tiny import tiny_sam2_overrides

    torch.manual_seed(0)
    direct = mt.measure_sam2_activations("sam2.1_hiera_t", 128, 128, tiny_sam2_overrides(), 0.0, frames=4)
    scaled = mt.measure_sam2_activations("sam2.1_hiera_t", 128, 64, tiny_sam2_overrides(), 0.0, frames=4)
    assert direct.trained_per_frame > direct.frozen_per_frame > 0 and direct.trained_per_object_frame > 0
    for name in ("trained_per_frame", "frozen_per_frame", "trained_per_object_frame", "frozen_per_object_frame"):
        ratio = getattr(scaled, name) / getattr(direct, name)
        assert 0.7 < ratio < 1.4, (name, ratio)  # linear pixel scaling from half the size, as the docs state
    assert direct.bytes(8, 3, trained=True) == 8 * (direct.trained_per_frame + 2 * direct.trained_per_object_frame)


@pytest.mark.slow
def test_main_prints_the_table(mt, capsys):
    out = mt.main(["--sizes", "3b", "--sam2-measure-size", "64", "--threads", "1", "--cards", "gpu24gb"])
    rows = out["rows"]
    assert [(r["model"], r["stage"]) for r in rows] == [("UniPixel-3B", s) for s in ("stage1", "stage2", "stage3")]
    assert rows[0]["trainable"] < rows[1]["trainable"] < rows[2]["trainable"]
    assert [(r["preset"], r["stage"], r["frames"]) for r in out["cards"]] == [
        ("gpu24gb", "stage1", None),
        ("gpu24gb", "stage2", 8),
        ("gpu24gb", "stage3", 4),
    ]
    text = capsys.readouterr().out
    assert "| UniPixel-3B | stage3 |" in text and "fits 80 GB" in text and "| UniPixel-3B | gpu24gb | stage3 |" in text


def test_card_rows_by_hand(mt):
    """A card row is `gpu_memory` of the composed stage's own preset, frames and objects, against the card less the
    margin; turning gradient checkpointing off keeps every layer's working set."""
    counts = make_counts(mt)
    for stage in ("stage1", "stage2"):
        counts.trainable[stage], counts.trainable_fp32[stage] = 10, 0
    sam2 = mt.Sam2Activations(768, 256, 1000.0, 100.0, 10.0, 1.0)
    rows = mt.card_table(["3b"], ["gpu24gb"], mt.Workload(tokens=7, patches=12), lambda f: sam2, counts={"3b": counts})
    s3 = rows[2]
    assert (s3["stage"], s3["frames"], s3["objects"], s3["gpus"], s3["zero"]) == ("stage3", 4, 1, 1, 3)
    acts = mt.activation_bytes(counts, "stage3", mt.Workload(7, 12, 4, {"stage3": 1}), sam2)
    assert s3["activations"]["sam2"] == 4 * 1000.0 + 2 * 80
    expected = mt.gpu_memory(counts, "stage3", mt.Preset("gpu24gb", 3, True, True, 1), acts)["total"]
    assert s3["total"] == expected and s3["limit"] == 0.9 * 24e9 and s3["fits"]
    off = mt.activation_bytes(counts, "stage1", mt.Workload(tokens=7), None, checkpointing=False)
    assert off["llm"] == 3 * 7 * (14 * 10 + 2 * 4 + 4 * 20) * 2


def test_sam2_measurement_defaults_to_the_estimated_clip_length(mt):
    import inspect

    default = inspect.signature(mt.measure_sam2_activations).parameters["frames"].default
    assert default == mt.Workload.sam2_frames == 8
