"""Runs `benchmarks/bench_data.py --quick` so the benchmark keeps working."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_data.py"


def test_bench_data_quick(capsys):
    spec = importlib.util.spec_from_file_location("bench_data", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--quick", "--workers", "1,2", "--samples", "8"])
    assert set(results["loader"]) == {1, 2} and all(rate > 0 for rate in results["loader"].values())
    assert results["decode"]["once"] > 0 and results["decode"]["twice"] > results["decode"]["decode"]
    out = capsys.readouterr().out
    assert "samples/s" in out and "decode once, shared" in out
