from __future__ import annotations

from evaluation.compare import compare_runs
from evaluation.harness import Judgement


def _run(outcomes: dict[str, list[bool]]) -> list[Judgement]:
    return [Judgement(problem_id=pid, sample=i, completion="", verdict="ok" if ok else "test_failed", passed=ok,
                      compiles=True)
            for pid, results in outcomes.items() for i, ok in enumerate(results)]


def test_flip_detection():
    before = _run({"a": [True], "b": [False], "c": [True], "d": [False]})
    after = _run({"a": [False], "b": [True], "c": [True], "d": [False]})
    comparison = compare_runs(before, after)
    assert comparison.regressed == ("a",)
    assert comparison.fixed == ("b",)
    changes = {r.problem_id: r.change for r in comparison.rows}
    assert changes == {"a": "pass→fail", "b": "fail→pass", "c": "pass", "d": "fail"}
    assert comparison.rows[0].problem_id == "a"  # the biggest drop first


def test_comparison_reports_per_problem_pass_rates():
    before = _run({"a": [True, True, False, False], "b": [True, False, False, False]})
    after = _run({"a": [True, False, False, False], "b": [True, True, True, False]})
    comparison = compare_runs(before, after)
    rates = {r.problem_id: (r.before_rate, r.after_rate) for r in comparison.rows}
    assert rates == {"a": (0.5, 0.25), "b": (0.25, 0.75)}
    assert comparison.regressed == ("a",) and comparison.fixed == ("b",)
    assert comparison.before_pass_at_1 == 0.375 and comparison.after_pass_at_1 == 0.5


def test_problems_judged_in_one_run_only_are_listed_apart():
    comparison = compare_runs(_run({"a": [True], "old": [True]}), _run({"a": [True], "new": [False]}))
    assert comparison.only_before == ("old",) and comparison.only_after == ("new",)
    assert [r.problem_id for r in comparison.rows] == ["a"]
