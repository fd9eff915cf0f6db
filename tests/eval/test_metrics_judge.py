"""VideoRefer-Bench-D judge-reply parsing and aggregation."""

import pytest

from unipixel.eval.metrics import JUDGE_DIMENSIONS, JudgeParseError, aggregate_judge_scores, parse_judge_scores

EXPECTED = dict(zip(JUDGE_DIMENSIONS, (4, 3, 2, 5)))


@pytest.mark.parametrize(
    "reply",
    [
        "Subject Correspondence: 4\nAppearance Description: 3\nTemporal Description: 2\nHallucination Detection: 5",
        "**Subject Correspondence**: 4\n**Appearance Description**: 3\n**Temporal Description**: 2\n"
        "**Hallucination Detection**: 5",
        '{"Subject Correspondence": 4, "Appearance Description": 3, "Temporal Description": 2, '
        '"Hallucination Detection": 5}',
        "subject correspondence (SC) - 4/5. Appearance  Description = 3.0, temporal description score: 2; "
        "Hallucination Detection: 5 (no invented objects).",
        "Evaluation:\n1. Subject Correspondence: 4 - the subject matches.\n2. Appearance Description: 3\n"
        "3. Temporal Description: 2\n4. Hallucination Detection: 5\nThe Subject Correspondence is good.",
    ],
)
def test_parses_common_formats(reply):
    assert parse_judge_scores(reply) == EXPECTED


REST = "\nAppearance Description: 3\nTemporal Description: 2\nHallucination Detection: 5"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Subject Correspondence: 4\nAppearance Description: 3\nTemporal Description: 2", "Hallucination Detection"),
        ("Subject Correspondence: 6" + REST, "not an integer in 0..5"),
        ("Subject Correspondence: 3.5" + REST, "not an integer in 0..5"),
        ("Subject Correspondence: 4\nSubject Correspondence: 2" + REST, "conflicting"),
        ("Subject Correspondence: -1" + REST, "Subject Correspondence: no score"),
        ("I cannot evaluate this.", "no score found"),
    ],
)
def test_unparseable_replies_raise_clear_errors(reply, reason):
    with pytest.raises(JudgeParseError, match=reason):
        parse_judge_scores(reply)


def test_aggregate():
    samples = [dict(zip(JUDGE_DIMENSIONS, (4, 3, 2, 5))), dict(zip(JUDGE_DIMENSIONS, (2, 3, 4, 1)))]
    out = aggregate_judge_scores(samples)
    assert out == pytest.approx({**dict(zip(JUDGE_DIMENSIONS, (3, 3, 3, 3))), "overall": 3.0}, abs=1e-15)
    # A sample missing a dimension only leaves that dimension's mean.
    partial = samples + [{"Subject Correspondence": 5}]
    out = aggregate_judge_scores(partial)
    assert out["Subject Correspondence"] == pytest.approx(11 / 3, abs=1e-15)
    assert out["overall"] == pytest.approx((11 / 3 + 3 + 3 + 3) / 4, abs=1e-15)
    with pytest.raises(ValueError):
        aggregate_judge_scores([])
