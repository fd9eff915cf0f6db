"""`benchmarks/gpu/bench_gpu.py`: the `--tiny` CPU run prints every row of its table, and the FLOP formula it reports
MFU with equals torch's per-operator FLOP count of the same forward pass."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO

BENCH = REPO / "benchmarks" / "gpu" / "bench_gpu.py"
ROWS = ["stock_step", "unipixel_step", "sam2_decode", "sam2_tracking", "infer_1obj", "infer_3obj", "unipixel_7b_step"]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_tiny_run_prints_every_row(tmp_path):
    """About 15 s on one CPU thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--tiny", "--threads", "1", "--json", str(out_json)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| row | measurement | time | rate | peak memory | MFU |")
    assert [line.split(" | ")[0].removeprefix("| ") for line in table[1:]] == ROWS
    assert "FLOPs: model FLOPs = 2 x N x tokens forward + 4 x N x tokens backward" in proc.stdout

    data = json.loads(out_json.read_text())
    assert data["meta"]["device"] == "cpu" and data["meta"]["tiny"]
    rows = {row["key"]: row for row in data["rows"]}
    assert list(rows) == ROWS
    for key in ("stock_step", "unipixel_step", "unipixel_7b_step"):
        d = rows[key]["data"]
        assert d["step_s"] > 0 and d["peak_gib"] is None and rows[key]["memory"] == "n/a"
        assert all(math.isfinite(v) for v in d["losses"])
        assert d["tokens_per_s"] == pytest.approx(d["tokens"] / d["step_s"])
        assert d["model_flops"] == pytest.approx(3 * (d["dense_fwd"] + d["attention_fwd"] + d["sam2_fwd"]))
        if key != "stock_step":
            assert d["estimate_gib"] > 0 and d["estimate"]["weights"] > 0  # the memory-table estimate beside it
    stock, ours = rows["stock_step"]["data"], rows["unipixel_step"]["data"]
    assert ours["tokens"] == stock["tokens"] and ours["patches"] == stock["patches"]  # same tokens in both rows
    assert stock["sam2_fwd"] == 0 and ours["sam2_fwd"] > 0
    assert ours["ratio_to_stock"] == pytest.approx(ours["step_s"] / stock["step_s"])
    decode = rows["sam2_decode"]["data"]
    assert decode["max_abs_diff"] < 1e-3 and decode["speedup"] == pytest.approx(
        decode["per_object_s"] / decode["batched_s"]
    )
    for key in ("infer_1obj", "infer_3obj"):
        d = rows[key]["data"]
        assert d["new_tokens"] == 8 and d["latency_s"] >= d["masks_s"] > 0 and d["decode_ms_per_token"] > 0


def test_flop_formula_matches_torch_counter():
    """Dense 2 x N x tokens plus 4 x q x k x width attention == the counted forward FLOPs of a LoRA-wrapped stock
    Qwen2.5-VL (odd-sized ViT windows included)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from unipixel.train.modules import configure_trainable

    bench = load_bench()
    torch.manual_seed(0)
    config = bench.unipixel_config("3b", tiny=True)
    model = bench.build(
        Qwen2_5_VLForConditionalGeneration, bench.stock_config(config), torch.device("cpu"), torch.float32, "sdpa"
    )
    model = configure_trainable(model, ["lora"], {"r": 4, "alpha": 8, "dropout": 0.0})
    generator = torch.Generator().manual_seed(0)
    answer = bench.answer_ids(config, 12, 2, generator)
    assert answer.count(config.seg_token_id) == 2 and answer[-1] == config.text_config.eos_token_id
    # 6 frames of 10 x 10 patches: 3 temporal groups, windows of 4 x 4 and cut ones (8 patches per window side)
    inputs = bench.video_inputs(config, 6, 10, 7, 9, answer, torch.device("cpu"), torch.float32, generator, train=True)
    assert inputs.seq_len == 7 + 1 + 3 * 5 * 5 + 1 + 9 + 12 and inputs.patches == 300

    counted = bench.counted_flops(lambda: model(**inputs.kwargs))
    flops = bench.step_flops(model, config, inputs)
    assert flops["dense_fwd"] + flops["attention_fwd"] == pytest.approx(counted, rel=1e-9)

    # by hand for the LLM attention: layers x 4 x T^2 x hidden
    text = config.text_config
    expected_llm = text.num_hidden_layers * 4 * inputs.seq_len**2 * text.hidden_size
    vit_only = bench.attention_forward_flops(config, inputs) - expected_llm
    assert vit_only > 0


def test_scripted_answer_forces_tokens():
    bench = load_bench()
    script = bench.ScriptedAnswer(prompt_len=3, answer=[5, 7, 2])
    scores = torch.zeros(2, 10)
    for length, token in ((3, 5), (4, 7), (5, 2), (9, 2)):
        forced = script(torch.zeros(2, length, dtype=torch.long), scores)
        assert forced.argmax(-1).tolist() == [token, token]
        assert torch.isinf(forced).sum() == 2 * 9
