from __future__ import annotations

from evaluation.clusters import by_category, by_construct, by_error_type, node_types
from evaluation.harness import Judgement
from evaluation.suites import Problem


def _j(pid, passed, verdict="ok", error_type="", message="", completion="", sample=0):
    return Judgement(problem_id=pid, sample=sample, completion=completion, verdict=verdict, passed=passed,
                     compiles=verdict != "syntax_error", error_type=error_type, error_message=message)


def _problem(pid, category, prompt="", variant="instruction"):
    return Problem(id=pid, suite="s", kind="code", prompt=prompt, variant=variant, category=category)


def test_error_clusters_group_failures_by_verdict_and_type():
    judgements = [
        _j("a", False, "runtime_error", "undefined_name", "attempt to call a nil value (global 'foo')"),
        _j("b", False, "runtime_error", "undefined_name", "attempt to call a nil value (global 'bar')"),
        _j("a", False, "runtime_error", "index_type", "attempt to index a nil value", sample=1),
        _j("c", False, "test_failed", "assertion", "scriptorium test 1 failed"),
        _j("d", False, "test_failed", "", "expected: 1, actual: nil"),
        _j("e", False, "syntax_error", "syntax", "unexpected symbol near '='"),
        _j("f", True),
    ]
    clusters = by_error_type(judgements)
    assert [(c.key, c.count) for c in clusters] == [
        ("runtime_error:undefined_name", 2), ("test_failed", 2),
        ("runtime_error:index_type", 1), ("syntax_error:syntax", 1)]
    assert clusters[0].problems == ("a", "b") and abs(clusters[0].share - 2 / 6) < 1e-9
    assert "attempt to call a nil value (global 'foo')" in clusters[0].examples


def test_construct_lift_ranks_constructs_of_failing_completions():
    loop = "function f(xs)\n  local i = 1\n  while xs[i] do i = i + 1 end\n  return i\nend\n"
    plain = "function f(xs)\n  local i = #xs\n  i = i + xs[1]\n  return i\nend\n"
    problems = [_problem(f"p{i}", "lists") for i in range(8)]
    judgements = [_j(f"p{i}", False, "timeout", completion=loop) for i in range(4)]
    judgements += [_j(f"p{i}", True, completion=plain) for i in range(4, 8)]
    judgements += [_j("p0", True, completion=loop, sample=1)]
    ranked = by_construct(judgements, problems, "lua")
    top = ranked[0]
    assert top.node_type == "while_statement" and top.failing_with == 4 and top.passing_with == 1
    assert top.lift > ranked[1].lift
    assert top.lift > 1
    # A construct every completion has is not a cause: its lift is near 1.
    function = next(r for r in ranked if r.node_type == "function_declaration")
    assert function.lift < top.lift


def test_construct_counting_skips_the_prompt_of_code_continuations():
    prompt = "-- add\nlocal function add(a, b)\n"
    types = node_types(prompt + "  return a + b\nend\n", "lua", start_byte=len(prompt.encode()))
    assert "binary_expression" in types and "return_statement" in types
    assert "comment" not in types and "parameters" not in types


def test_categories_are_listed_worst_first():
    problems = [_problem("a", "strings"), _problem("b", "strings"), _problem("c", "recursion")]
    judgements = [_j("a", True), _j("b", False, "test_failed"), _j("c", False, "timeout"), _j("c", False, "timeout")]
    stats = by_category(judgements, problems)
    assert [(s.category, s.pass_rate) for s in stats] == [("recursion", 0.0), ("strings", 0.5)]
    assert stats[0].top_errors == (("timeout", 2),) and stats[1].problems == 2
