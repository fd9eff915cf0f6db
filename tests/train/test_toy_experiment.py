"""The README's main job, `python -m unipixel.train experiment=toy`, end to end on a few steps: toy data written,
three chained stages, the exported model and the untrained baseline evaluated with the real evaluators, the table."""

import json

import pytest

from tests.train.conftest import compose_train
from unipixel.train.evaluate import format_table
from unipixel.train.run import prepare_toy_data, run


def toy_config(tmp_path, extra=()):
    overrides = [
        "experiment=toy",
        f"output_dir={tmp_path / 'run'}",
        f"toy_data.root={tmp_path / 'toy'}",
        "toy_data.num_train=2",
        "toy_data.num_val=1",
        "train.report_to=[]",
        "train.disable_tqdm=true",
        "train.per_device_train_batch_size=2",
        "stages.stage3.per_device_batch_size=2",
        "evaluation.limit=1",
    ]
    for stage in ("stage1", "stage2", "stage3"):
        overrides += [f"stages.{stage}.global_batch_size=2", f"stages.{stage}.max_steps=2"]
    return compose_train([*overrides, *extra])


def test_toy_run_end_to_end(tmp_path, capsys):
    cfg = toy_config(tmp_path)
    outputs = run(cfg)
    assert set(outputs) == {"stage1", "stage2", "stage3"}
    assert (tmp_path / "toy" / "toy_manifest.json").is_file()
    assert (outputs["stage3"] / "config.json").is_file()  # a full model, LoRA-free export
    # the pixel budget it was trained with travels with it
    from unipixel.inference import Predictor

    predictor = Predictor.from_pretrained(outputs["stage3"], device="cpu")
    assert (predictor.processor.min_tokens, predictor.processor.max_tokens) == (16, 64)
    results = json.loads((tmp_path / "run" / "eval" / "results.json").read_text())
    assert set(results) == {"trained", "untrained"}
    for name in results:
        for key in cfg.evaluation.report:
            assert key in results[name], (name, key)
    table = (tmp_path / "run" / "eval" / "results.md").read_text()
    assert "refcoco/val/cIoU" in table and "mevis/valid_u/J&F" in table and "| Δ |" in table
    assert "Evaluation of" in capsys.readouterr().out


def test_toy_data_is_reused_and_regenerated_on_change(tmp_path):
    cfg = toy_config(tmp_path)
    root = prepare_toy_data(cfg.toy_data)
    manifest = root / "toy_manifest.json"
    stamp = manifest.stat().st_mtime_ns
    prepare_toy_data(cfg.toy_data)
    assert manifest.stat().st_mtime_ns == stamp  # same settings: kept
    cfg.toy_data.seed = 1
    prepare_toy_data(cfg.toy_data)
    assert json.loads(manifest.read_text())["seed"] == 1


def test_format_table_shows_the_difference():
    table = format_table(
        {"trained": {"a/b/c": 0.75, "x": 1.0}, "untrained": {"a/b/c": 0.25}}, keys=["a/b/c", "x"]
    ).splitlines()
    assert table[0] == "| metric | trained | untrained | Δ |"
    assert table[2] == "| a/b/c | 0.750 | 0.250 | +0.500 |"
    assert table[3] == "| x | 1.000 | – | – |"


@pytest.mark.parametrize("stage", ["stage1", "stage2", "stage3"])
def test_toy_stages_chain(tmp_path, stage):
    cfg = toy_config(tmp_path)
    expected = {"stage1": [], "stage2": [], "stage3": ["stage1", "stage2"]}[stage]
    got = [str(p).rsplit("/", 1)[-1] for p in cfg.stages[stage].get("partial_checkpoints") or []]
    assert got == expected
