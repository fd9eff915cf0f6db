"""VideoRefer-Bench-D judge scores: parsing the judge's reply and aggregating (docs/design.md §5.2). No HTTP here.

The judge rates four dimensions with integers 0-5. `parse_judge_scores` finds each dimension's name
(case-insensitive, tolerating markdown emphasis, quotes, an abbreviation such as "(SC)" and separators like ":",
"=", "-") followed by its score, optionally written "4.0" or "4/5". This covers plain lines
("Subject Correspondence: 4"), markdown ("**Appearance Description**: 3") and JSON ({"Temporal Description": 2}).
It raises `JudgeParseError` when a dimension is missing, when a score is not an integer in 0..5, or when a dimension
appears with two different scores.

Aggregation: each dimension is averaged over the samples that have it; overall = mean of the four dimension means.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

DIMENSIONS = ("Subject Correspondence", "Appearance Description", "Temporal Description", "Hallucination Detection")


class JudgeParseError(ValueError):
    """The judge's reply does not contain one valid 0-5 score for every dimension."""


def _dimension_pattern(name: str) -> re.Pattern[str]:
    words = r"\s+".join(re.escape(w) for w in name.split())
    abbreviation = "".join(w[0] for w in name.split())
    # name, optional "(SC)" and "score", separator characters only, then the number (not "-1": the sign is not a
    # separator there), with an optional "/5" denominator.
    return re.compile(
        rf"{words}(?:\s*\(\s*{abbreviation}\s*\))?(?:\s+score)?[\s*_\"'`:=\-–—]*"
        r"(?<!-)(\d+(?:\.\d+)?)(?!\.?\d)(?:\s*/\s*5(?!\d))?",
        re.IGNORECASE,
    )


_PATTERNS = {name: _dimension_pattern(name) for name in DIMENSIONS}


def _dimension_score(name: str, text: str) -> int | str:
    """The dimension's score, or a description of why there is none."""
    raw_scores = {m.group(1) for m in _PATTERNS[name].finditer(text)}
    if not raw_scores:
        return f"{name}: no score found"
    values = set()
    for raw in raw_scores:
        value = float(raw)
        if value != int(value) or not 0 <= value <= 5:
            return f"{name}: score {raw} is not an integer in 0..5"
        values.add(int(value))
    if len(values) > 1:
        return f"{name}: conflicting scores {sorted(values)}"
    return values.pop()


def parse_judge_scores(text: str) -> dict[str, int]:
    """The four dimension scores in a judge reply, as {dimension: int}; raises `JudgeParseError` otherwise."""
    results = {name: _dimension_score(name, text) for name in DIMENSIONS}
    problems = [r for r in results.values() if isinstance(r, str)]
    if problems:
        excerpt = text if len(text) <= 300 else text[:300] + "..."
        raise JudgeParseError("; ".join(problems) + f" -- in judge reply: {excerpt!r}")
    return results  # type: ignore[return-value]


def aggregate_judge_scores(samples: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Per-dimension means over the samples that carry that dimension, plus "overall" = mean of the four means."""
    rows = list(samples)
    out: dict[str, float] = {}
    for name in DIMENSIONS:
        values = [row[name] for row in rows if name in row]
        if not values:
            raise ValueError(f"no sample has a score for {name!r}")
        out[name] = float(np.mean(values))
    out["overall"] = float(np.mean([out[name] for name in DIMENSIONS]))
    return out
