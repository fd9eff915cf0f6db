"""The card presets (`hardware=gpu24gb`, `gpu48gb`, `gpu80gb`): every override their comments document composes with
both experiments and reaches the stage it is meant for, each stage runs the settings the memory table estimates, and
(slow) the memory table puts every stage of 3B and 7B under its card with the stated margin."""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import unipixel.model  # noqa: F401  (imports sam2 first: its Hydra state must not leak into ours)
from tests.conftest import REPO

CARDS = ("gpu24gb", "gpu48gb", "gpu80gb")
EXPERIMENTS = ("unipixel_3b", "unipixel_7b")
# hardware.stage3.<key> -> the stage-3 setting it feeds
FEEDS = {
    "sample_frames": "stages.stage3.data.common.sample_frames",
    "sample_objects": "stages.stage3.model_overrides.sample_objects",
    "deepspeed": "stages.stage3.deepspeed",
}
OVERRIDE_LINE = re.compile(r"^#\s+([A-Za-z_][\w.]*=\S+)(\s|$)")


def documented_overrides(preset: str) -> list[str]:
    """The `key=value` lines of a preset's opening comment."""
    lines = (REPO / "configs" / "hardware" / f"{preset}.yaml").read_text().splitlines()
    return [m.group(1) for line in lines if (m := OVERRIDE_LINE.match(line))]


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


@pytest.fixture(scope="module")
def mt():
    spec = importlib.util.spec_from_file_location("memory_table", REPO / "benchmarks" / "memory_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("preset", CARDS)
def test_every_preset_documents_overrides(preset):
    assert len(documented_overrides(preset)) >= 2, f"{preset}.yaml lists no override keys in its comment"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("preset,override", [(p, o) for p in CARDS for o in documented_overrides(p)])
def test_documented_override_composes_and_takes_effect(preset, override, experiment):
    key, _, text = override.partition("=")
    value = yaml.safe_load(text)
    cfg = compose_train([f"experiment={experiment}", f"hardware={preset}", override])
    plain = OmegaConf.to_container(cfg, resolve=True)
    node = OmegaConf.create(plain)
    assert OmegaConf.select(node, key) == value
    name = key.rpartition(".")[2]
    if key.startswith("hardware.stage3.") and name in FEEDS:
        assert OmegaConf.select(node, FEEDS[name]) == value, f"{override} does not reach {FEEDS[name]}"
    if key == "hardware.deepspeed" and "deepspeed" in (plain["hardware"].get("stage3") or {}):
        assert plain["stages"]["stage3"]["deepspeed"] == value  # the preset's stage 3 follows its DeepSpeed JSON
    if isinstance(value, str) and value.endswith(".json"):
        assert (REPO / value).is_file(), value


def test_stage_key_wins_over_the_preset():
    cfg = compose_train(["experiment=unipixel_3b", "hardware=gpu24gb", "stages.stage3.data.common.sample_frames=6"])
    assert cfg.stages.stage3.data.common.sample_frames == 6 and cfg.hardware.stage3.sample_frames != 6


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("preset", CARDS)
def test_stages_run_the_preset_settings(mt, preset, experiment):
    cfg = compose_train([f"experiment={experiment}", f"hardware={preset}"])
    hardware = OmegaConf.to_container(cfg.hardware, resolve=True)
    work = mt.Workload()
    plan = mt.stage_plan(cfg, "stage3", work)
    assert plan.frames == hardware["stage3"]["sample_frames"]
    assert plan.objects == hardware["stage3"]["sample_objects"]
    assert plan.preset.world == hardware["card"]["gpus"] and plan.checkpointing
    expected = hardware["stage3"].get("deepspeed")
    if expected is None:  # gpu80gb: the release's choice (7B: optimizer offload)
        expected = "configs/deepspeed/zero2_offload.json" if experiment == "unipixel_7b" else hardware["deepspeed"]
    assert plan.deepspeed == expected
    for stage in ("stage1", "stage2"):
        assert mt.stage_plan(cfg, stage, work).deepspeed == hardware["deepspeed"]


def test_seven_b_stage3_takes_the_preset_deepspeed():
    """The 7B experiment's stage-3 DeepSpeed JSON used to win over any hardware preset (ZeRO-2 + offload even on
    a 24 GB card); a card preset's `stage3.deepspeed` now replaces it, the release's stays without one."""
    small = compose_train(["experiment=unipixel_7b", "hardware=gpu24gb"])
    assert small.stages.stage3.deepspeed == "configs/deepspeed/zero3_offload.json"
    release = compose_train(["experiment=unipixel_7b", "hardware=zero2"])
    assert release.stages.stage3.deepspeed == "configs/deepspeed/zero2_offload.json"
    assert compose_train(["experiment=unipixel_3b", "hardware=zero2"]).stages.stage3.deepspeed is None


def test_release_settings_unchanged_without_a_card_preset():
    cfg = compose_train(["experiment=unipixel_3b"])
    assert cfg.hardware.deepspeed == "configs/deepspeed/zero2.json"
    assert cfg.stages.stage3.data.common.sample_frames == 8
    assert cfg.stages.stage3.model_overrides.sample_objects == 5


@pytest.mark.slow
def test_memory_table_fits_every_card(mt):
    """The table's own estimate (SAM 2 measured at 256 px on clips of each preset's length, as `main` does): every
    stage of 3B and 7B under every card preset stays under the card less the margin."""
    import torch

    config = mt.model_config("3b")
    measured = {}

    def sam2_at(frames):
        if frames not in measured:
            torch.manual_seed(0)
            measured[frames] = mt.measure_sam2_activations(
                config.sam2_config, config.sam2_image_size, 256, config.sam2_overrides, config.sam2_drop_path, frames
            )
        return measured[frames]

    rows = mt.card_table(sam2_at=sam2_at)
    assert len(rows) == 2 * 3 * 3
    over = [(r["model"], r["preset"], r["stage"], round(r["total"] / 1e9, 1)) for r in rows if not r["fits"]]
    assert not over, over
    assert all(r["limit"] == (1 - mt.CARD_MARGIN) * r["card_gb"] * 1e9 for r in rows)
