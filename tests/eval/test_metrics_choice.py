"""Multiple-choice parsing (strict and the original lenient rule, bug B12) and accuracy."""

import pytest

from unipixel.eval.metrics import choice_accuracy, parse_choice


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("B", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        ("B)", "B"),
        ("B:", "B"),
        ("  C) the red car", "C"),
        ("(D) because it turns left", "D"),
        ("A.\nThe man", "A"),
        ("Apple", None),  # B12: lenient reads A
        ("Because the dog runs", None),
        ("b", None),
        ("(b)", None),
        ("B,", None),
        ("B).", None),
        ("B.The", None),
        ("Option B", None),
        ("The answer is B", None),
        ("E", None),  # not a valid option
        ("", None),
        ("   ", None),
    ],
)
def test_strict(response, expected):
    assert parse_choice(response, "ABCD") == expected


def test_strict_option_text():
    texts = ["The red car", "A dog", "two people", "nothing"]
    assert parse_choice("the red car.", "ABCD", option_texts=texts) == "A"
    assert parse_choice("  Two   people ", "ABCD", option_texts=texts) == "C"
    assert parse_choice("A dog", "ABCD", option_texts=texts) == "B"  # the text, not the letter "A"
    assert parse_choice("the red car is moving", "ABCD", option_texts=texts) is None
    with pytest.raises(ValueError):
        parse_choice("x", "ABCD", option_texts=texts[:3])


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("Apple", "A"),  # B12: first character of a longer token
        ("Because the dog runs", "B"),
        ("(B)", "B"),
        ("(b) the car", "B"),
        ("c.", "C"),
        ("B).", "B"),
        ("D,", "D"),
        ("((a", "A"),
        ("E", None),
        ("Eagle", None),
        ("()", None),  # nothing left after removing brackets and dots
        ("", None),
        ("  \n ", None),
        ("1", None),
        ("The answer is B", None),  # "the" → "t"
    ],
)
def test_lenient_reproduces_original_rule(response, expected):
    assert parse_choice(response, "ABCD", lenient=True) == expected


def test_valid_letters_follow_options():
    assert parse_choice("E", "ABCDE") == "E"
    assert parse_choice("D", ["a", "b", "c"]) is None
    assert parse_choice("d) x", "ABC", lenient=True) is None


def test_accuracy_overall_and_per_group():
    predictions = ["A", "B", None, "C", "D"]
    answers = ["A", "(C)", "B", "C", "A"]
    groups = ["color", "color", "motion", "motion", "motion"]
    out = choice_accuracy(predictions, answers, groups)
    assert out == pytest.approx({"overall": 2 / 5, "color": 1 / 2, "motion": 1 / 3}, abs=1e-15)
    assert list(out) == ["overall", "color", "motion"]
    assert choice_accuracy(["A"], ["A"]) == {"overall": 1.0}
    with pytest.raises(ValueError):
        choice_accuracy(["A"], ["A", "B"])
    with pytest.raises(ValueError):
        choice_accuracy(["A"], ["AB"])
