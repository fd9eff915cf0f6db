"""Runs `benchmarks/bench_metrics.py --quick` so the benchmark keeps working (it checks ours == the official recipe)."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_metrics.py"


def test_bench_metrics_quick(capsys):
    spec = importlib.util.spec_from_file_location("bench_metrics", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--quick", "--threads", "2"])
    assert len(rows) == 4 and {r["kind"] for r in rows} == {"compact", "full-frame"}
    assert all(r["max_abs_diff"] == 0 and r["ref_fps"] > 0 and r["ours_fps_1t"] > 0 for r in rows)
    assert "max |diff|" in capsys.readouterr().out
