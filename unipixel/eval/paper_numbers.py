"""The published UniPixel-3B / UniPixel-7B results (the original release's README table; docs/design.md §7), typed in
once.

Values are as printed there: percentages, except VideoRefer-Bench-D (the judge's 0-5 score). Rows are keyed like this
code's `results.json` files: the benchmark (the evaluator's name) and `split/metric`, the rest of the result key
`benchmark/split/metric`. Our results are fractions; `display_scale` gives the factor that puts them in the printed
units. Rows with no published number (PixelQA, MeViS valid_u, ReasonSeg test: the paper tables that would hold them
were not available) are listed so that the table still shows our value beside a "–".

The ReVOS row is its `overall` result (the mean of the referring and reasoning subsets, which the ReVOS evaluator also
reports as plain `J`, `F`, `J&F`); GroundMoRe's is over all questions. MeViS `valid` and Ref-YouTube-VOS `valid` are
scored by the official servers (no local numbers; MeViS `valid_u` is the local split).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperRow:
    """One line of the results table: `metric` is `split/metric`; `uni_3b` / `uni_7b` the published values or None."""

    benchmark: str
    metric: str
    uni_3b: float | None = None
    uni_7b: float | None = None


BENCHMARK_NAMES = {
    "revos": "ReVOS",
    "mevis": "MeViS",
    "ref_youtube_vos": "Ref-YouTube-VOS",
    "ref_davis17": "Ref-DAVIS17",
    "ref_sav": "Ref-SAV",
    "groundmore": "GroundMoRe",
    "refcoco": "RefCOCO",
    "refcoco+": "RefCOCO+",
    "refcocog": "RefCOCOg",
    "reason_seg": "ReasonSeg",
    "videorefer_bench_d": "VideoRefer-Bench-D",
    "videorefer_bench_q": "VideoRefer-Bench-Q",
    "mvbench": "MVBench",
    "pixelqa": "PixelQA",
}


def _jf(benchmark: str, split: str, j: tuple, f: tuple, jf: tuple) -> list[PaperRow]:
    return [PaperRow(benchmark, f"{split}/{name}", *values) for name, values in (("J", j), ("F", f), ("J&F", jf))]


_NONE = (None, None)

ROWS: tuple[PaperRow, ...] = (
    # video referring / reasoning segmentation: J, F, J&F
    *_jf("revos", "valid", (59.7, 61.7), (64.4, 65.7), (62.1, 63.7)),
    *_jf("mevis", "valid", (50.4, 53.2), (55.7, 58.3), (53.1, 55.8)),
    *_jf("mevis", "valid_u", _NONE, _NONE, _NONE),
    *_jf("ref_youtube_vos", "valid", (68.6, 69.5), (72.3, 72.4), (70.5, 71.0)),
    *_jf("ref_davis17", "valid", (70.7, 72.7), (77.8, 80.1), (74.2, 76.4)),
    *_jf("ref_sav", "valid", (66.9, 68.5), (67.6, 69.6), (67.2, 69.0)),
    *_jf("groundmore", "test", (36.0, 36.5), (38.7, 39.1), (37.4, 37.8)),
    # image referring / reasoning segmentation
    PaperRow("refcoco", "val/cIoU", 80.5, 80.8),
    PaperRow("refcoco", "testA/cIoU", 82.6, 83.0),
    PaperRow("refcoco", "testB/cIoU", 76.9, 77.4),
    PaperRow("refcoco+", "val/cIoU", 74.3, 75.3),
    PaperRow("refcoco+", "testA/cIoU", 78.9, 80.1),
    PaperRow("refcoco+", "testB/cIoU", 68.4, 70.0),
    PaperRow("refcocog", "val/cIoU", 76.3, 76.4),
    PaperRow("refcocog", "test/cIoU", 77.0, 77.1),
    PaperRow("reason_seg", "val/gIoU", 64.0, 60.5),
    PaperRow("reason_seg", "val/cIoU", 56.2, 58.7),
    PaperRow("reason_seg", "test/gIoU"),
    PaperRow("reason_seg", "test/cIoU"),
    # region understanding
    PaperRow("videorefer_bench_d", "single/overall", 3.42, 3.37),
    PaperRow("videorefer_bench_d", "multi/overall", 3.44, 3.36),
    PaperRow("videorefer_bench_q", "single/accuracy", 72.2, 73.4),
    PaperRow("videorefer_bench_q", "multi/accuracy", 72.8, 74.1),
    # zero-shot video QA
    PaperRow("mvbench", "test/average", 62.5, 64.3),
    # PixelQA (no published numbers available)
    *(PaperRow("pixelqa", f"{mode}/{name}") for mode in ("point", "box", "mix") for name in ("accuracy", "J&F")),
)

# benchmarks whose results are already in the printed units (not fractions)
SCORE_BENCHMARKS = frozenset({"videorefer_bench_d"})
# metric names that are counts, printed as they are (besides every `num_*` name)
COUNT_METRICS = frozenset({"n", "num_objects"})


def is_count(metric: str) -> bool:
    """Whether a metric (`split/name`, or a name) is a count: `n`, `num_objects`, `num_expressions`, `num_videos`..."""
    name = metric.rsplit("/", 1)[-1]
    return name in COUNT_METRICS or name.startswith("num_")


def display_scale(benchmark: str, metric: str) -> float:
    """Factor from a `results.json` value to the printed units (100 for fractions shown as percentages)."""
    if benchmark in SCORE_BENCHMARKS or is_count(metric):
        return 1.0
    return 100.0
