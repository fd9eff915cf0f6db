"""scripts/eval_all.sh (every benchmark config with the splits its header lists, torchrun inference, scoring, table)
and the region / QA benchmark configs composed through the evaluation entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

import unipixel.model  # noqa: F401  (sam2 first: its Hydra state must not leak into ours)
from tests.data import video_fixtures as vf
from tests.eval.region_qa_helpers import write_predictions
from unipixel.eval.benchmarks.mvbench import MVBenchEvaluator
from unipixel.eval.benchmarks.pixelqa import PixelQAEvaluator
from unipixel.eval.benchmarks.videorefer_bench_d import VideoReferBenchDEvaluator
from unipixel.eval.benchmarks.videorefer_bench_q import VideoReferBenchQEvaluator
from unipixel.eval.runner import score_predictions

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "eval_all.sh"


def run_script(args, **env):
    full = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **env}
    full.pop("UNIPIXEL_JUDGE_URL", None)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=full, timeout=600)


def test_dry_run_lists_every_benchmark_split(tmp_path):
    out = run_script(["ckpt", str(tmp_path / "out")], DRY_RUN="1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "1 inference process(es)" in lines[0], "no GPU here: one process"
    predicted = {
        (parts[0].split("=")[1], parts[1].split("=")[1])
        for line in lines
        if line.startswith("+ ") and "mode=predict" in line
        for parts in [[p for p in line.split() if p.startswith(("benchmark=", "split="))]]
    }
    configs = sorted(p.stem for p in (REPO / "configs/benchmark").glob("*.yaml"))
    assert {b for b, _ in predicted} == set(configs)
    for job in [
        ("videorefer_bench_q", "single"),
        ("videorefer_bench_q", "multi"),
        ("videorefer_bench_d", "multi"),
        ("pixelqa", "point"),
        ("pixelqa", "box"),
        ("pixelqa", "mix"),
        ("mvbench", "test"),
        ("refcoco", "testB"),
        ("refcocog", "test"),
    ]:
        assert job in predicted
    predict = next(line for line in lines if "benchmark=mvbench" in line and "mode=predict" in line)
    assert "-m torch.distributed.run --standalone --nproc_per_node 1 -m unipixel.eval" in predict
    assert f"model.path=ckpt out_dir={tmp_path / 'out'} data_root=data" in predict
    assert not any("benchmark=videorefer_bench_d" in line and "mode=score" in line for line in lines)
    assert "videorefer_bench_d/single: predicted; not scored" in out.stdout
    assert lines[-1].endswith(f"tools/make_tables.py {tmp_path / 'out'}")


def test_usage_without_arguments():
    out = run_script([])
    assert out.returncode == 2 and "scripts/eval_all.sh <checkpoint> [out_dir]" in out.stdout


def compose_eval(overrides):
    with initialize_config_dir(config_dir=str(REPO / "configs"), version_base="1.3"):
        return compose(config_name="eval", overrides=overrides)


@pytest.mark.parametrize(
    "benchmark, split, cls",
    [
        ("videorefer_bench_q", "single", VideoReferBenchQEvaluator),
        ("videorefer_bench_d", "multi", VideoReferBenchDEvaluator),
        ("mvbench", "test", MVBenchEvaluator),
        ("pixelqa", "mix", PixelQAEvaluator),
    ],
)
def test_configs_compose(tmp_path, benchmark, split, cls):
    cfg = compose_eval([f"benchmark={benchmark}", f"split={split}", "model.path=ckpt", f"data_root={tmp_path}"])
    evaluator = instantiate(cfg.benchmark)
    assert type(evaluator) is cls and evaluator.split == split and evaluator.root == str(tmp_path)
    assert evaluator.benchmark == benchmark
    if benchmark == "videorefer_bench_d":
        assert evaluator.out_dir == "ckpt/eval", "the judge cache follows the run's out_dir"
        assert evaluator.judge_settings["temperature"] == 0.0
    if benchmark == "mvbench":
        assert evaluator.max_new_tokens == 256 and evaluator.scale_pixel_budget is False


def test_scoring_through_the_entry_point(tmp_path, capsys):
    """`python -m unipixel.eval ... mode=score` on hand-written predictions (the path eval_all.sh takes)."""
    from unipixel.eval.__main__ import evaluate

    vf.write_videorefer_bench(tmp_path / "data")
    out = tmp_path / "out"
    cfg = compose_eval(
        ["benchmark=videorefer_bench_q", "split=multi", "model.path=ckpt", f"data_root={tmp_path / 'data'}",
         f"out_dir={out}", "mode=score"]
    )  # fmt: skip
    evaluator = VideoReferBenchQEvaluator("multi", root=str(tmp_path / "data"))
    write_predictions(out, evaluator, {0: {"text": "A) Sliding"}, 1: {"text": "A) Apart"}})
    results = evaluate(cfg)
    assert results["metrics"]["videorefer_bench_q/multi/accuracy"] == 0.5
    assert results["metrics"] == score_predictions(evaluator, out)["metrics"]


@pytest.mark.slow
def test_end_to_end_on_the_tiny_model(tmp_path):
    """The whole script on a fixture: torchrun inference with the random tiny model, scoring, the table."""
    vf.write_mvbench(tmp_path / "data")
    out = tmp_path / "out"
    result = run_script(
        ["tiny", str(out), "benchmark.max_new_tokens=2", "benchmark.tasks=[Episodic Reasoning]"],
        BENCHMARKS="mvbench",
        DATA_ROOT=str(tmp_path / "data"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    average = json.loads((out / "mvbench/test/results.json").read_text())["metrics"]["mvbench/test/average"]
    assert f"| MVBench | test | average | {100 * average:.1f} | 62.5 |" in (out / "results_table.md").read_text()
