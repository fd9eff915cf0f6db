"""Multiple-choice answer parsing and accuracy (VideoRefer-Bench-Q, MVBench, PixelQA QA; docs/design.md §5.2, bug B12).

Two parsers, both returning the upper-case option letter or None (unparsed, which scores as wrong):

- strict (default). After stripping surrounding whitespace the response must either
    * equal one of `option_texts` as a whole, compared case-insensitively with whitespace collapsed and one
      trailing "." ignored ("The red car." → the letter of "the red car"; checked first, so an option text that
      starts like a letter, "A dog", still names its own option), or
    * start with one upper-case valid option letter, bare or written `(B)`, `B.`, `B)` or `B:`, followed by
      whitespace or the end of the text ("B", "(B) the red car", "B. because ..." → B; "Apple", "B,", "b", "B).",
      "Option B", "The answer is B" → None).
  The prompts pre-seed "Best Option: (" / "The best option is (", so a well-behaved continuation is "B) ...".
- lenient (`lenient=True`): the original's rule, reproduced exactly. Take the first whitespace-separated token,
  lower-case it, delete every "(", ")" and "."; if more than one character remains keep only the first; the result
  must be a valid option letter. So "Apple pie" → A and "Because ..." → B (B12): malformed text can score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_STRICT = re.compile(r"(?:\(([A-Z])\)|([A-Z])[.):]?)(?=\s|$)")


def _normalise_text(text: str) -> str:
    text = " ".join(text.split()).casefold()
    return text[:-1].rstrip() if text.endswith(".") else text


def parse_choice(
    response: str,
    options: Sequence[str] = "ABCD",
    option_texts: Sequence[str] | None = None,
    lenient: bool = False,
) -> str | None:
    """Option letter chosen by `response`, or None if it cannot be parsed (see the module docstring).

    `options` lists the valid letters (e.g. "ABCD" or ["A", "B", "C"]); `option_texts`, if given, holds the bare
    option texts in the same order (strict mode only).
    """
    letters = [o.strip().upper() for o in options]
    if lenient:
        tokens = response.split()
        if not tokens:
            return None
        token = tokens[0].lower().replace("(", "").replace(")", "").replace(".", "")
        if len(token) > 1:
            token = token[0]
        return token.upper() if token and token.upper() in letters else None

    text = response.strip()
    if option_texts is not None:
        if len(option_texts) != len(letters):
            raise ValueError(f"{len(option_texts)} option texts for {len(letters)} letters")
        # Checked first: a response that is exactly an option's text ("A dog") names that option, not letter A.
        wanted = _normalise_text(text)
        for letter, option in zip(letters, option_texts):
            if wanted and wanted == _normalise_text(option):
                return letter
    match = _STRICT.match(text)
    if match:
        letter = match.group(1) or match.group(2)
        return letter if letter in letters else None
    return None


def _normalise_answer(answer: str) -> str:
    letter = answer.strip().strip("().").strip().upper()
    if len(letter) != 1:
        raise ValueError(f"ground-truth answer must be one option letter, got {answer!r}")
    return letter


def choice_accuracy(
    predictions: Sequence[str | None], answers: Sequence[str], groups: Sequence[str] | None = None
) -> dict[str, float]:
    """Fraction correct overall (every sample counts once) and per group (e.g. the `task` / question-type field).

    `predictions` are parsed letters (None = unparsed = wrong); `answers` are GT letters ("B" or "(B)").
    Returns {"overall": ..., group: ...}.
    """
    if len(predictions) != len(answers) or (groups is not None and len(groups) != len(answers)):
        raise ValueError("predictions, answers and groups must have the same length")
    if not answers:
        raise ValueError("no samples")
    correct = np.array([p is not None and p.upper() == _normalise_answer(a) for p, a in zip(predictions, answers)])
    out = {"overall": float(correct.mean())}
    if groups is not None:
        names = np.asarray(groups, dtype=object)
        for name in dict.fromkeys(groups):
            if name == "overall":
                raise ValueError('a group may not be called "overall"')
            out[name] = float(correct[names == name].mean())
    return out
