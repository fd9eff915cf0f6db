"""The README results table: our numbers from `results.json` files beside the published UniPixel-3B / 7B ones.

    python tools/make_tables.py <eval folder>          # markdown on stdout; results_table.md / .tex in the folder

`collect_results` merges the metrics of every `results.json` under a folder; `table_rows` lines them up with
`unipixel.eval.paper_numbers.ROWS` (ours in the printed units, the published values, and ours minus each); the two
renderers write markdown and LaTeX (booktabs). A value that is missing is shown as "–"; counts are printed as counts.

A partial run (`limit=N`, or scored with `allow_partial` while samples were missing) is not comparable with a
published number: `partial_runs` finds them, its values are marked "†", their differences are left out ("–"), and a
note under the table says what each covers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .paper_numbers import BENCHMARK_NAMES, ROWS, SCORE_BENCHMARKS, PaperRow, display_scale, is_count

MISSING = "–"
PARTIAL = "†"


def collect_results(folder: str | Path) -> tuple[dict[str, float], dict[str, Path]]:
    """All metrics (`benchmark/split/metric` → value) of the `results.json` files under `folder`, and the file each
    came from. Non-numeric values (NaN is stored as null) are left out; a key with two different values in two files
    is an error naming both."""
    metrics: dict[str, float] = {}
    sources: dict[str, Path] = {}
    files = sorted(Path(folder).rglob("results.json"))
    for path in files:
        try:
            content = json.loads(path.read_text())
            entries = content["metrics"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path}: not a results file with a `metrics` object ({type(exc).__name__}: {exc})"
            ) from exc
        for key, value in entries.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                continue
            if key in metrics and metrics[key] != value:
                raise ValueError(f"{key} is {metrics[key]} in {sources[key]} but {value} in {path}; keep one run")
            metrics[key], sources[key] = float(value), path
    return metrics, sources


def partial_note(content: dict) -> str | None:
    """What a `results.json` covers when it is not the whole split (None when it is): the sample limit of a smoke run
    and/or the samples scored out of those expected."""
    run = content.get("run") or {}
    scored, expected = content.get("num_samples"), content.get("num_expected")
    total = content.get("num_in_split")
    parts = []
    if run.get("limit") is not None:
        parts.append(f"limit={run['limit']}")
    if scored is not None and expected is not None and scored < expected:
        parts.append(f"{scored} of {expected} expected samples scored (missing predictions)")
    elif scored is not None and total is not None and scored < total:
        parts.append(f"{scored} of {total} samples")
    elif run.get("limit") is not None and scored is not None:
        parts.append(f"{scored} samples")
    return ", ".join(parts) or None


def partial_runs(folder: str | Path) -> dict[str, str]:
    """`benchmark/split` → what it covers, for every `results.json` under `folder` that is a partial run."""
    notes = {}
    for path in sorted(Path(folder).rglob("results.json")):
        content = json.loads(path.read_text())
        note = partial_note(content)
        if note:
            for key in content.get("metrics", {}):
                benchmark, split, _ = key.split("/", 2)
                notes[f"{benchmark}/{split}"] = note
    return notes


@dataclass
class TableRow:
    benchmark: str
    split: str
    metric: str
    ours: float | None
    uni_3b: float | None
    uni_7b: float | None
    decimals: int
    partial: str | None = None  # what a partial run covers (see `partial_note`); None: the whole split

    @property
    def delta_3b(self) -> float | None:
        if self.partial or self.ours is None or self.uni_3b is None:
            return None
        return self.ours - self.uni_3b

    @property
    def delta_7b(self) -> float | None:
        if self.partial or self.ours is None or self.uni_7b is None:
            return None
        return self.ours - self.uni_7b


def _split_metric(metric: str) -> tuple[str, str]:
    split, _, name = metric.partition("/")
    return split, name


def table_rows(
    results: dict[str, float],
    rows: tuple[PaperRow, ...] = ROWS,
    all_metrics: bool = False,
    partial: dict[str, str] | None = None,
) -> list[TableRow]:
    """One `TableRow` per paper row (ours from `results`, scaled to the printed units); with `all_metrics`, every
    other result key too (after the paper rows of its benchmark, or at the end for unknown benchmarks). `partial`
    (`partial_runs`) marks the rows of partial runs."""
    partial = partial or {}
    entries = [(r.benchmark, r.metric, r.uni_3b, r.uni_7b) for r in rows]
    if all_metrics:
        known = {f"{b}/{m}" for b, m, _, _ in entries}
        order = list(dict.fromkeys(b for b, _, _, _ in entries))
        extra = sorted(k for k in results if k not in known)
        for key in extra:
            benchmark, _, metric = key.partition("/")
            if benchmark not in order:
                order.append(benchmark)
            entries.append((benchmark, metric, None, None))
        entries.sort(key=lambda e: order.index(e[0]))  # stable: paper rows first within a benchmark
    out = []
    for benchmark, metric, uni_3b, uni_7b in entries:
        value = results.get(f"{benchmark}/{metric}")
        scale = display_scale(benchmark, metric)
        ours = None if value is None else value * scale
        split, name = _split_metric(metric)
        decimals = 0 if is_count(metric) else (2 if benchmark in SCORE_BENCHMARKS else 1)
        note = partial.get(f"{benchmark}/{split}") if ours is not None else None
        out.append(TableRow(benchmark, split, name, ours, uni_3b, uni_7b, decimals, note))
    return out


def _number(value: float | None, decimals: int, signed: bool = False) -> str:
    if value is None:
        return MISSING
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    return text.replace("-", "−") if signed else text


HEADER = ("Benchmark", "Split", "Metric", "Ours", "UniPixel-3B", "Δ 3B", "UniPixel-7B", "Δ 7B")


def _cells(row: TableRow) -> list[str]:
    d = row.decimals
    return [
        BENCHMARK_NAMES.get(row.benchmark, row.benchmark),
        row.split,
        row.metric,
        _number(row.ours, d) + (PARTIAL if row.partial else ""),
        _number(row.uni_3b, d),
        _number(row.delta_3b, d, signed=True),
        _number(row.uni_7b, d),
        _number(row.delta_7b, d, signed=True),
    ]


def partial_footnote(rows: list[TableRow]) -> list[str]:
    """One line per partial run shown in the table (empty when there is none)."""
    notes = dict.fromkeys(
        f"{BENCHMARK_NAMES.get(r.benchmark, r.benchmark)} {r.split}: {r.partial}" for r in rows if r.partial
    )
    if not notes:
        return []
    head = f"{PARTIAL} partial run, not comparable with the published numbers (no difference shown): "
    return [head + "; ".join(notes) + "."]


def render_markdown(rows: list[TableRow]) -> str:
    """A GitHub markdown table; percentages except VideoRefer-Bench-D (0-5); Δ = ours − published."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 5) + "|"]
    for row in rows:
        cells = [c.replace("|", "\\|") for c in _cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    footnote = partial_footnote(rows)
    if footnote:
        lines += ["", *footnote]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}"}


def _latex(text: str) -> str:
    text = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
    text = text.replace("−", "$-$").replace("–", "--").replace("Δ", r"$\Delta$")
    return text.replace(PARTIAL, r"$^\dagger$")


def render_latex(rows: list[TableRow]) -> str:
    """A booktabs `tabular` (needs `\\usepackage{booktabs}`), a rule between benchmarks."""
    lines = [r"\begin{tabular}{lll" + "r" * 5 + "}", r"\toprule", " & ".join(_latex(h) for h in HEADER) + r" \\"]
    lines.append(r"\midrule")
    previous = None
    for row in rows:
        if previous is not None and row.benchmark != previous:
            lines.append(r"\midrule")
        previous = row.benchmark
        lines.append(" & ".join(_latex(c) for c in _cells(row)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [r"\par\footnotesize " + _latex(line) for line in partial_footnote(rows)]
    return "\n".join(lines) + "\n"
