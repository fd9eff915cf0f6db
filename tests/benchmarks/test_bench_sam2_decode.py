"""The SAM 2 decoding benchmark runs (quick mode) and its two paths agree, so it cannot rot."""

import importlib.util

from tests.conftest import REPO


def test_bench_sam2_decode_quick():
    spec = importlib.util.spec_from_file_location("bench_sam2_decode", REPO / "benchmarks" / "bench_sam2_decode.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--quick", "--threads", "1"])
    assert [r["objects"] for r in rows] == [1, 3]
    for r in rows:
        assert r["max_abs_diff"] < 1e-3
        assert r["encoded_frames_batched"] == 2 and r["encoded_frames_per_object"] == 2 * r["objects"]
