"""The fuzz suite over every toy family (see `fuzz.py`): each corruption ends in a named error (strict mode) or a
logged replacement / named error (lenient training), never a silent drop, a read outside the data root or an error
without its file. The default run checks a representative subset; `-m slow` runs the whole matrix and prints the
table (`python -m tests.reliability.fuzz` prints it without pytest)."""

import pytest

from unipixel.data.toy import SMALL, make_toy_data

from . import fuzz


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    make_toy_data(root, seed=0, **SMALL)
    fuzz.watch_reads()
    return root


@pytest.fixture(scope="module")
def baseline(template):
    return fuzz.clean_lengths(template)


def check(template, baseline, tmp_path, family, corruption, mode):
    result = fuzz.run_case(template, tmp_path / "case", fuzz.FAMILIES[family], corruption, mode, baseline)
    assert result is not None, "the case does not apply"
    assert result.outcome in fuzz.GOOD, f"{result.description}: {result.outcome}: {result.detail}"
    if mode == "strict":
        assert result.outcome == "named error", result.detail
    return result


@pytest.mark.parametrize(("family", "corruption", "mode"), fuzz.fast_cases())
def test_fuzz_case(template, baseline, tmp_path, family, corruption, mode):
    check(template, baseline, tmp_path, family, corruption, mode)


def test_fast_subset_covers_every_family_and_corruption():
    cases = fuzz.fast_cases()
    assert {f for f, _, _ in cases} == set(fuzz.FAMILIES)
    assert {c for _, c, _ in cases} == set(fuzz.CORRUPTIONS)
    assert {m for _, _, m in cases} == set(fuzz.MODES)


@pytest.mark.slow
def test_fuzz_matrix_table(template, tmp_path, capsys):
    results = fuzz.run_all(fuzz.all_cases(), template, tmp_path / "case")
    bad = [r for r in results if r.outcome in fuzz.BAD or (r.mode == "strict" and r.outcome != "named error")]
    with capsys.disabled():
        print("\n" + fuzz.table(results))
    assert len(results) >= 150 and not bad, [(r.family, r.corruption, r.mode, r.outcome, r.detail) for r in bad]
