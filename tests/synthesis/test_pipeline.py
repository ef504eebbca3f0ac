"""The pipeline keeps what behaves as its generator intended — judged by real runs."""
from __future__ import annotations

import pytest

from curation.packs import read_pack
from sandbox import run_many
from synthesis.candidates import Candidate, DocQACandidate, PairCandidate
from synthesis.pipeline import validate
from tests.conftest import LUA_PACK


@pytest.fixture(scope="module")
def pack():
    return read_pack(LUA_PACK).pack


def test_positive_that_runs_is_kept_with_its_output(pack):
    report = validate(pack, [Candidate("syntax", "print(1 + 2)")], run_many)
    assert [i.code for i in report.items] == ["print(1 + 2)"]
    assert report.items[0].metadata["stdout"] == "3\n"
    assert report.counts["passed"] == 1


def test_positive_that_crashes_is_dropped(pack):
    report = validate(pack, [Candidate("syntax", "print(nope())")], run_many)
    assert report.items == [] and report.counts["executed"] == 1


def test_negative_with_intended_error_becomes_errfix_with_real_message(pack):
    fixed = "local function greet(n) return 'hi ' .. n end\nprint(greet('x'))\n"
    broken = fixed.replace("print(greet(", "print(gret(")
    report = validate(pack, [Candidate("negative", broken, expect="runtime_error", expect_error_type="undefined_name",
                                       fixed_code=fixed, explanation="`gret` is a typo for `greet`.")], run_many)
    [item] = report.items
    assert item.sample_kind == "errfix"
    assert item.code == fixed
    assert "attempt to call a nil value (global 'gret')" in item.prompt
    assert item.metadata["error_type"] == "undefined_name" and item.metadata["error_line"] == 2


def test_negative_failing_the_wrong_way_is_dropped(pack):
    fixed = "print(1)\n"
    broken = "print(1 .. {})\n"  # a concat error, not the syntax error it claims to be
    report = validate(pack, [Candidate("negative", broken, expect="syntax_error", fixed_code=fixed)], run_many)
    assert report.items == []


def test_augmentation_is_kept_only_with_identical_output(pack):
    original = "for i = 1, 3 do print(i) end\n"
    same = "local i = 1\nwhile i <= 3 do print(i) i = i + 1 end\n"
    different = "local i = 1\nwhile i < 3 do print(i) i = i + 1 end\n"
    report = validate(pack, [Candidate("augment", same, equivalent_to=original),
                             Candidate("augment", different, equivalent_to=original)], run_many)
    assert [i.code for i in report.items] == [same]


def test_pair_candidate_yields_passing_over_failing(pack):
    tests = [{"args": [2, 3], "expected": 5}, {"args": [0, 0], "expected": 0}]
    good = "function add(a, b) return a + b end"
    bad = "function add(a, b) return a - b end"
    report = validate(pack, [PairCandidate("Write add(a, b).", [bad, good], tests, "add")], run_many)
    [pair] = report.items
    assert (pair.code, pair.rejected_code) == (good, bad)
    assert pair.rejected_result.verdict.value == "test_failed"


def test_docqa_with_example_that_fails_is_dropped(pack):
    report = validate(pack, [DocQACandidate("Q?", "A (§1.1)", ["§1.1"], example_code="print(#nil)"),
                             DocQACandidate("Q2?", "B (§1.1)", ["§1.1"], example_code="print(#'ab')")], run_many)
    assert [i.candidate.question for i in report.items] == ["Q2?"]


def test_docqa_without_an_example_program_is_dropped(pack):
    report = validate(pack, [DocQACandidate("Q?", "A (§1.1)", ["§1.1"], example_code="  \n"),
                             DocQACandidate("Q2?", "B (§1.1)", ["§1.1"], example_code="print(#'ab')")], run_many)
    assert [i.candidate.question for i in report.items] == ["Q2?"]
    assert (report.counts["expect_ok"], report.counts["runner_ok"]) == (2, 1)


def test_counters_say_what_each_kind_of_candidate_did(pack):
    fixed = "local function greet(n) return 'hi ' .. n end\nprint(greet('x'))\n"
    candidates = [
        Candidate("syntax", "print(1 + 2)"),
        Candidate("syntax", "print(nope())"),  # parses, the runner refuses it
        Candidate("syntax", "print((1 +)"),  # does not parse
        Candidate("negative", fixed.replace("print(greet(", "print(gret("), expect="runtime_error",
                  expect_error_type="undefined_name", fixed_code=fixed),
        Candidate("negative", "print(1 .. {})\n", expect="syntax_error", fixed_code="print(1)\n"),  # wrong class
        Candidate("augment", "for i = 1, 2 do print(i) end", equivalent_to="print(1)\nprint(2)\n"),
        Candidate("augment", "print(3)", equivalent_to="print(1)\nprint(2)\n"),  # output changed
    ]
    counts = validate(pack, candidates, run_many).counts
    assert counts["generated"] == 7 and counts["passed"] == 3
    assert (counts["expect_ok"], counts["runner_ok"]) == (5, 3)
    assert counts["parsed"] == 6
    assert (counts["negatives"], counts["negatives_intended"]) == (2, 1)
    assert (counts["augments"], counts["augment_survived"]) == (2, 1)


def test_limits_apply_to_every_program_of_the_chunk(pack):
    import time

    started = time.monotonic()
    report = validate(pack, [Candidate("syntax", "while true do end"), Candidate("syntax", "print(1)")], run_many,
                      limits={"wall_seconds": 0.3, "cpu_seconds": 0.2})
    assert time.monotonic() - started < 2.5
    assert [i.code for i in report.items] == ["print(1)"]
    assert report.counts["runner_ok"] == 1


def test_batches_merge_into_one_chunk_report(pack):
    from synthesis.pipeline import merge_reports

    a = validate(pack, [Candidate("syntax", "print(1)")], run_many)
    b = validate(pack, [Candidate("syntax", "print(2)"), Candidate("syntax", "print(x.y)")], run_many)
    merged = merge_reports([a, b])
    assert [i.code for i in merged.items] == ["print(1)", "print(2)"]
    assert merged.counts["generated"] == 3 and merged.counts["executed"] == 3 and merged.counts["passed"] == 2
