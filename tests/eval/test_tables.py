"""The results table: result files written here, rendered in markdown and LaTeX beside the published numbers, with
differences and "–" for what is missing; the published numbers cover every benchmark under the evaluators' names."""

import importlib.util
import json
from pathlib import Path

import pytest

from unipixel.eval.paper_numbers import ROWS
from unipixel.eval.tables import collect_results, render_latex, render_markdown, table_rows

TOOL = Path(__file__).resolve().parents[2] / "tools" / "make_tables.py"


def write_results(folder: Path, benchmark: str, split: str, metrics: dict) -> None:
    path = folder / benchmark / split / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": {f"{benchmark}/{split}/{k}": v for k, v in metrics.items()}}))


@pytest.fixture
def results_dir(tmp_path):
    write_results(tmp_path, "refcoco", "val", {"cIoU": 0.8123, "gIoU": 0.70, "n": 120})
    write_results(tmp_path, "videorefer_bench_d", "single", {"overall": 3.5, "Subject Correspondence": 3.9})
    write_results(tmp_path, "mvbench", "test", {"average": 0.6, "accuracy/Action Count": 0.5})
    write_results(tmp_path, "mevis", "valid_u", {"J": 0.5, "F": 0.56, "J&F": 0.53})
    write_results(tmp_path, "revos", "valid", {"J": 0.601, "F": 0.65, "J&F": 0.6256, "overall/J": 0.601})
    write_results(tmp_path, "pixelqa", "mix", {"accuracy": 0.4, "J&F": float("nan")})  # NaN is stored as null
    return tmp_path


def line_of(markdown: str, *cells: str) -> str:
    prefix = "| " + " | ".join(cells) + " |"
    (line,) = [line for line in markdown.splitlines() if line.startswith(prefix)]
    return line


def test_markdown_rows(results_dir):
    results, sources = collect_results(results_dir)
    assert results["refcoco/val/cIoU"] == 0.8123 and sources["refcoco/val/cIoU"].parent.name == "val"
    markdown = render_markdown(table_rows(results))
    assert markdown.splitlines()[0] == "| Benchmark | Split | Metric | Ours | UniPixel-3B | Δ 3B | UniPixel-7B | Δ 7B |"
    # ours as percentages; Δ = ours - published: 81.23 - 80.5 = +0.73, 81.23 - 80.8 = +0.43
    assert line_of(markdown, "RefCOCO", "val", "cIoU") == "| RefCOCO | val | cIoU | 81.2 | 80.5 | +0.7 | 80.8 | +0.4 |"
    assert line_of(markdown, "RefCOCO", "testA") == "| RefCOCO | testA | cIoU | – | 82.6 | – | 83.0 | – |"
    # the judge score is already in its units (0-5), two decimals
    assert line_of(markdown, "VideoRefer-Bench-D", "single") == (
        "| VideoRefer-Bench-D | single | overall | 3.50 | 3.42 | +0.08 | 3.37 | +0.13 |"
    )
    assert line_of(markdown, "MVBench") == "| MVBench | test | average | 60.0 | 62.5 | −2.5 | 64.3 | −4.3 |"
    assert line_of(markdown, "ReVOS", "valid", "J&F") == "| ReVOS | valid | J&F | 62.6 | 62.1 | +0.5 | 63.7 | −1.1 |"
    assert line_of(markdown, "MeViS", "valid_u", "F") == "| MeViS | valid_u | F | 56.0 | – | – | – | – |"
    assert line_of(markdown, "MeViS", "valid", "J&F") == "| MeViS | valid | J&F | – | 53.1 | – | 55.8 | – |"
    assert line_of(markdown, "PixelQA", "mix", "accuracy") == "| PixelQA | mix | accuracy | 40.0 | – | – | – | – |"
    assert line_of(markdown, "PixelQA", "mix", "J&F") == "| PixelQA | mix | J&F | – | – | – | – | – |"
    assert "gIoU | 70.0" not in markdown and "Action Count" not in markdown  # headline rows only by default
    assert len(markdown.splitlines()) == 2 + len(ROWS)


def test_all_metrics(results_dir):
    results, _ = collect_results(results_dir)
    rows = table_rows(results, all_metrics=True)
    markdown = render_markdown(rows)
    assert line_of(markdown, "RefCOCO", "val", "gIoU") == "| RefCOCO | val | gIoU | 70.0 | – | – | – | – |"
    assert line_of(markdown, "RefCOCO", "val", "n") == "| RefCOCO | val | n | 120 | – | – | – | – |"  # a count
    assert line_of(markdown, "MVBench", "test", "accuracy/Action Count") == (
        "| MVBench | test | accuracy/Action Count | 50.0 | – | – | – | – |"
    )
    # extra rows follow their benchmark's paper rows
    benchmarks = [row.benchmark for row in rows]
    assert benchmarks.index("refcoco+") > max(i for i, b in enumerate(benchmarks) if b == "refcoco")


def test_latex(results_dir):
    results, _ = collect_results(results_dir)
    latex = render_latex(table_rows(results))
    lines = latex.splitlines()
    assert lines[0] == r"\begin{tabular}{lllrrrrr}" and lines[-1] == r"\end{tabular}"
    assert r"Benchmark & Split & Metric & Ours & UniPixel-3B & $\Delta$ 3B & UniPixel-7B & $\Delta$ 7B \\" in lines
    assert r"MVBench & test & average & 60.0 & 62.5 & $-$2.5 & 64.3 & $-$4.3 \\" in lines
    assert r"ReVOS & valid & J\&F & 62.6 & 62.1 & +0.5 & 63.7 & $-$1.1 \\" in lines
    assert r"PixelQA & mix & J\&F & -- & -- & -- & -- & -- \\" in lines
    assert r"MeViS & valid\_u & J & 50.0 & -- & -- & -- & -- \\" in lines
    assert latex.count(r"\midrule") == 1 + len({row.benchmark for row in ROWS}) - 1


def test_conflicting_results_are_refused(results_dir):
    write_results(results_dir / "rerun", "refcoco", "val", {"cIoU": 0.5})
    with pytest.raises(ValueError, match=r"refcoco/val/cIoU is 0.8123 in .* but 0.5 in .*rerun"):
        collect_results(results_dir)


def test_cli_writes_both_files(results_dir, capsys):
    spec = importlib.util.spec_from_file_location("make_tables", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(results_dir), "--out-tex", str(results_dir / "t.tex")]) == 0
    printed = capsys.readouterr().out
    assert printed == (results_dir / "results_table.md").read_text()
    assert "| RefCOCO | val | cIoU | 81.2 |" in printed
    assert (results_dir / "t.tex").read_text().startswith(r"\begin{tabular}")


def test_paper_numbers_cover_every_benchmark():
    names = {"revos", "mevis", "ref_youtube_vos", "ref_davis17", "ref_sav", "groundmore", "refcoco", "refcoco+",
             "refcocog", "reason_seg", "videorefer_bench_d", "videorefer_bench_q", "mvbench", "pixelqa"}  # fmt: skip
    assert {row.benchmark for row in ROWS} == names
    keys = [f"{row.benchmark}/{row.metric}" for row in ROWS]
    assert len(keys) == len(set(keys))
    assert all(len(key.split("/")) == 3 for key in keys), "benchmark/split/metric"
    published = {key: (row.uni_3b, row.uni_7b) for key, row in zip(keys, ROWS)}
    # a few entries of the release's README table, typed again here
    assert published["ref_davis17/valid/J&F"] == (74.2, 76.4)
    assert published["reason_seg/val/gIoU"] == (64.0, 60.5)
    assert published["videorefer_bench_q/multi/accuracy"] == (72.8, 74.1)
    assert published["groundmore/test/F"] == (38.7, 39.1)
    # J&F is the mean of J and F in every published video row (to the printed rounding)
    for key, (j3, j7) in published.items():
        if key.endswith("/J") and j3 is not None:
            f3, f7 = published[key[:-1] + "F"]
            jf3, jf7 = published[key[:-1] + "J&F"]
            assert abs((j3 + f3) / 2 - jf3) <= 0.051 and abs((j7 + f7) / 2 - jf7) <= 0.051, key


def write_run(folder: Path, benchmark: str, split: str, metrics: dict, limit=None, scored=10, expected=10, total=10):
    """A results.json as the runner writes it, with the run's limit and sample counts."""
    path = folder / benchmark / split / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {
        "metrics": {f"{benchmark}/{split}/{k}": v for k, v in metrics.items()},
        "num_samples": scored,
        "num_expected": expected,
        "num_in_split": total,
        "run": {"limit": limit},
    }
    path.write_text(json.dumps(content))


def test_partial_runs_are_marked_and_get_no_difference(tmp_path, capsys):
    write_run(tmp_path, "refcoco", "val", {"cIoU": 0.75}, limit=5, scored=5, expected=5, total=1500)
    write_run(tmp_path, "refcoco+", "val", {"cIoU": 0.70}, scored=140, expected=150, total=150)
    write_run(tmp_path, "refcocog", "val", {"cIoU": 0.72}, scored=150, expected=150, total=150)
    spec = importlib.util.spec_from_file_location("make_tables", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(tmp_path)]) == 0
    captured = capsys.readouterr()
    markdown = captured.out
    assert line_of(markdown, "RefCOCO", "val", "cIoU") == "| RefCOCO | val | cIoU | 75.0† | 80.5 | – | 80.8 | – |"
    assert line_of(markdown, "RefCOCO+", "val", "cIoU").startswith("| RefCOCO+ | val | cIoU | 70.0† | ")
    assert "| RefCOCOg | val | cIoU | 72.0 | " in markdown and "72.0†" not in markdown  # a complete run
    assert (
        "† partial run, not comparable with the published numbers (no difference shown): RefCOCO val: limit=5, 5 of "
        "1500 samples; RefCOCO+ val: 140 of 150 expected samples scored (missing predictions)." in markdown
    )
    assert "partial runs, marked †" in captured.err
    latex = (tmp_path / "results_table.tex").read_text()
    assert r"RefCOCO & val & cIoU & 75.0$^\dagger$ & 80.5 & -- & 80.8 & -- \\" in latex
    assert r"\par\footnotesize $^\dagger$ partial run" in latex


def test_counts_are_printed_as_counts(tmp_path):
    write_run(tmp_path, "mevis", "valid_u", {"J&F": 0.5, "motion/num_expressions": 2, "num_videos": 3})
    results, _ = collect_results(tmp_path)
    markdown = render_markdown(table_rows(results, all_metrics=True))
    assert line_of(markdown, "MeViS", "valid_u", "motion/num_expressions") == (
        "| MeViS | valid_u | motion/num_expressions | 2 | – | – | – | – |"
    )
    assert line_of(markdown, "MeViS", "valid_u", "num_videos") == "| MeViS | valid_u | num_videos | 3 | – | – | – | – |"
