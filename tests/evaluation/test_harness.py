from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from curation.packs import read_pack
from evaluation import multiple
from evaluation.harness import (Attempt, build_program, evaluate, extract_code, judge, prepare_completion,
                                self_test)
from evaluation.suites import Problem, docqa_suite, errfix_suite, multiple_suite, pack_suite
from sandbox import run
from tests.conftest import LUA_PACK

HUMANEVAL_LUA = Path("/work/shared/benchmarks/multipl-e/humaneval-lua.jsonl")

# Hand-written solutions: MultiPL-E ships none, and these prove the passing path.
SOLUTIONS = {
    "HumanEval_0_has_close_elements": """  for i = 1, #numbers do
    for j = i + 1, #numbers do
      if math.abs(numbers[i] - numbers[j]) < threshold then return true end
    end
  end
  return false
end
""",
    "HumanEval_100_make_a_pile": """  local pile = {}
  for i = 0, n - 1 do pile[#pile + 1] = n + 2 * i end
  return pile
end
""",
    "HumanEval_101_words_string": """  local words = {}
  for word in s:gmatch("[^,%s]+") do words[#words + 1] = word end
  return words
end
""",
    "HumanEval_2_truncate_number": """  return number % 1.0
end
""",
    "HumanEval_12_longest": """  local best = nil
  for _, s in ipairs(strings) do
    if best == nil or #s > #best then best = s end
  end
  return best
end
""",
    "HumanEval_34_unique": """  local seen, out = {}, {}
  for _, v in ipairs(l) do
    if not seen[v] then seen[v] = true; out[#out + 1] = v end
  end
  table.sort(out)
  return out
end
""",
}


@pytest.fixture(scope="module")
def content():
    return read_pack(LUA_PACK)


@pytest.fixture(scope="module")
def pack(content):
    return content.pack


@pytest.fixture(scope="module")
def humaneval():
    return multiple_suite(HUMANEVAL_LUA, language="lua")


def _named(problems, name):
    return next(p for p in problems if p.id.endswith("/" + name))


def _without(library: multiple.TestLibrary, function: str, *, declared: bool) -> multiple.TestLibrary:
    source = library.source.replace(f"function M.{function}(", f"function M.removed_{function}(")
    assert source != library.source
    provides = library.provides if declared else library.provides - {function}
    return dataclasses.replace(library, source=source, provides=provides)


# ---------------------------------------------------------------- completions and programs

def test_stop_tokens_cut_the_completion_at_the_first_one(humaneval):
    problem = _named(humaneval, "HumanEval_2_truncate_number")
    raw = "  return number % 1.0\nend\n\nlocal function extra()\n  return 1\nend\n-- trailing"
    assert prepare_completion(problem, raw) == "  return number % 1.0\nend"


def test_instruction_completions_take_the_first_fenced_block(content):
    problem = pack_suite(content)[0]
    raw = "Here it is:\n```lua\nfunction f() end\n```\nand a test:\n```lua\nprint(f())\n```"
    assert prepare_completion(problem, raw) == "function f() end\n"
    assert extract_code("function f() end") == "function f() end"


def test_multiple_program_keeps_the_completions_line_numbers(humaneval, pack):
    problem = _named(humaneval, "HumanEval_2_truncate_number")
    program = build_program(problem, "  local x = nil\n  return x.y\nend", marker="m")
    prompt_lines = problem.prompt.count("\n")
    [judgement] = judge(pack, [Attempt(problem, "  local x = nil\n  return x.y\nend")])
    assert program.tests is None and "package.preload" in program.code.splitlines()[0]
    assert judgement.verdict == "runtime_error" and judgement.error_type == "index_type"
    assert judgement.error_line == prompt_lines + 2


# ---------------------------------------------------------------- the luaunit shim

def test_luaunit_shim_runs_every_humaneval_test_file(humaneval, pack):
    """The real 161 test files load and fail an empty body by an assertion, never by a
    missing module or assertion function."""
    judged = judge(pack, [Attempt(p, p.known_wrong) for p in humaneval])
    assert len(judged) == 161
    assert {j.verdict for j in judged} == {"test_failed"}
    assert all(j.error_message.startswith("expected: ") for j in judged), \
        [j.error_message for j in judged if not j.error_message.startswith("expected: ")][:3]
    assert all(j.compiles for j in judged)


def test_correct_solutions_pass_humaneval_tests(humaneval, pack):
    attempts = [Attempt(_named(humaneval, name), code) for name, code in SOLUTIONS.items()]
    judged = judge(pack, attempts)
    assert [(j.problem_id, j.verdict) for j in judged] == [(a.problem.id, "ok") for a in attempts]


def test_luaunit_assert_equals_compares_like_luaunit(pack):
    library = multiple.luaunit()
    checks = {
        "lu.assertEquals({1, {2, {x = 3}}}, {1, {2, {x = 3}}})": True,
        "lu.assertEquals({1, 2, 3}, {1, 2})": False,
        "lu.assertEquals({1, 2}, {1, 2, 3})": False,
        "lu.assertEquals({a = 1}, {a = 1, b = 2})": False,
        "lu.assertEquals({1, {2}}, {1, {'2'}})": False,
        "lu.assertEquals(1, 1.0)": True,
        "lu.assertEquals(0/0, 0/0)": False,
        "lu.assertEquals('1', 1)": False,
        "lu.assertEquals(nil, None)": True,
        "lu.assertEquals({}, {})": True,
        "local a = {}; a.self = a; local b = {}; b.self = b; lu.assertEquals(a, b)": True,
        "lu.assertNotEquals({1}, {2})": True,
        "lu.assertTrue(1)": False,
        "lu.assertItemsEquals({1, 2, 3}, {3, 1, 2})": True,
        "lu.assertAlmostEquals(0.1 + 0.2, 0.3, 1e-9)": True,
        "lu.assert_equals('a', 'a')": True,
    }
    body = "\n".join(f"function test_{i:02d}() {code} end" for i, code in enumerate(checks))
    code = library.preload("MARK") + "lu = require('luaunit')\n" + body + "\nos.exit(lu.LuaUnit.run())\n"
    result = run(pack, code)
    failed = {line.split(":")[1].split()[-1] for line in result.stderr.splitlines() if line.startswith("luaunit: FAIL")}
    expected_failures = {f"test_{i:02d}" for i, ok in enumerate(checks.values()) if not ok}
    assert failed == expected_failures, result.stderr
    assert "luaunit: ERROR" not in result.stderr and result.exit_code == len(expected_failures)


def test_luaunit_shim_provides_what_it_declares(pack):
    library = multiple.luaunit()
    names = sorted(n for n in library.provides if "." not in n)
    probe = "; ".join(f"assert(type(lu[{multiple.lua_string(n)}]) == 'function', {multiple.lua_string(n)})"
                      for n in names)
    code = (library.preload("MARK") + "local lu = require('luaunit')\n" + probe
            + "\nassert(type(lu.LuaUnit.run) == 'function')\n")
    assert run(pack, code).verdict == "ok"


def test_early_exit_does_not_pass_a_multiple_problem(humaneval, pack):
    problem = _named(humaneval, "HumanEval_2_truncate_number")
    [judgement] = judge(pack, [Attempt(problem, "  return 0\nend\nos.exit(0)\n")])
    assert judgement.verdict == "test_failed" and not judgement.passed


# ---------------------------------------------------------------- self-test

def test_self_test_passes_on_humaneval_lua(humaneval, pack):
    report = self_test(pack, humaneval)
    assert report.ok, report.summary()
    assert report.executions == 161 and report.without_reference == 161


def test_self_test_catches_missing_test_library(humaneval, pack):
    report = self_test(pack, humaneval[:20], test_libraries={})
    assert not report.ok
    assert {f.check for f in report.failures} == {"test_library", "tests_run"}
    assert any("module 'luaunit' not found" in f.detail for f in report.failures)
    assert "self-test failed" in report.summary()


def test_self_test_catches_a_shim_missing_an_assertion(humaneval, pack):
    """Even when the library claims the function, running the known-wrong body shows the gap."""
    broken = _without(multiple.luaunit(), "assertEquals", declared=True)
    report = self_test(pack, humaneval[:20], test_libraries={"lua": broken})
    assert not report.ok
    assert {f.check for f in report.failures} == {"tests_run"}
    assert all(f.verdict == "runtime_error" for f in report.failures)
    undeclared = self_test(pack, humaneval[:5], test_libraries={"lua": _without(multiple.luaunit(), "assertEquals",
                                                                                 declared=False)})
    assert "test_library" in {f.check for f in undeclared.failures}


def test_self_test_catches_tests_that_accept_anything(humaneval, pack):
    problem = _named(humaneval, "HumanEval_2_truncate_number")
    toothless = dataclasses.replace(problem, test_code="lu = require('luaunit')\nfunction test_nothing() end\n"
                                                       "os.exit(lu.LuaUnit.run())")
    report = self_test(pack, [toothless])
    assert [f.check for f in report.failures] == ["known_wrong_fails"]


def test_self_test_refuses_problems_it_cannot_check(pack):
    problem = Problem(id="x/1", suite="x", kind="code", prompt="local function f()\n", variant="completion",
                      language="lua", test_code="print(1)")
    assert [f.check for f in self_test(pack, [problem]).failures] == ["checkable"]


def test_pack_references_pass_in_harness(content, pack):
    for variant in ("instruction", "completion"):
        problems = pack_suite(content, variant=variant)
        report = self_test(pack, problems)
        assert report.ok, (variant, report.summary())
        assert report.executions >= len(problems) + len(problems) // 2


def test_errfix_and_docqa_suites_pass_their_self_test(content, pack):
    problems = errfix_suite(content, splits=("test",)) + docqa_suite(content)
    report = self_test(pack, problems)
    assert report.ok, report.summary()


# ---------------------------------------------------------------- evaluate with a backend

@dataclass(frozen=True)
class _Completion:
    text: str
    tokens: int
    seconds: float


class _ScriptedBackend:
    """A model stand-in that answers from a script; counts its calls."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers, self.calls = answers, []

    def generate(self, prompts, *, n=1, temperature=0.2, max_new_tokens=256, stop=None, seed=None):
        self.calls.append({"prompts": len(prompts), "n": n, "stop": stop})
        return [[_Completion(text, 7, 0.5) for text in self.answers[p][:n]] for p in prompts]


def test_evaluate_judges_backend_samples_into_metrics(humaneval, content, pack):
    code = [_named(humaneval, "HumanEval_2_truncate_number"), _named(humaneval, "HumanEval_34_unique")]
    docs = docqa_suite(content)[:2]
    answers = {
        code[0].prompt: [SOLUTIONS["HumanEval_2_truncate_number"], "  return number\nend\n"],
        code[1].prompt: ["  return l\nend\n\n\nlocal junk = ", "  return {\nend\n"],
        docs[0].prompt: [docs[0].reference, "I don't know."],
        docs[1].prompt: [docs[1].reference, docs[1].reference],
    }
    backend = _ScriptedBackend(answers)
    result = evaluate(backend, pack, code + docs, n=2)
    assert result.valid and len(result.judgements) == 8
    assert sorted(call["stop"] is None for call in backend.calls) == [False, True]
    metrics = result.metrics(ks=(1, 2))
    humaneval_metrics = metrics["humaneval-lua"].metrics
    assert humaneval_metrics["Pass@1"].value == pytest.approx(0.25)
    assert humaneval_metrics["Pass@2"].value == pytest.approx(0.5)
    assert humaneval_metrics["Compile@1"].value == pytest.approx(0.75)
    assert metrics["lua-docqa"].metrics["DocGrounded@1"].value == pytest.approx(0.75)
    assert metrics["humaneval-lua"].cost.mean_tokens == 7
    cut = next(j for j in result.judgements if j.problem_id == code[1].id and j.sample == 0)
    assert cut.completion == "  return l\nend"
    stored = json.loads(json.dumps(result.to_dict(ks=(1, 2))))
    assert stored["valid"] and stored["metrics"]["humaneval-lua"]["metrics"]["Pass@2"]["value"] == pytest.approx(0.5)


def test_invalid_self_test_stops_evaluation_before_generation(humaneval, pack):
    backend = _ScriptedBackend({})
    result = evaluate(backend, pack, humaneval[:3], test_libraries={})
    assert not result.valid and result.judgements == [] and backend.calls == []
    assert "luaunit" in result.invalid_reason or "test library" in result.invalid_reason


class _BatchingBackend(_ScriptedBackend):
    """A scripted backend that batches `max_batch` sequences per call, as LocalBackend does."""

    def __init__(self, answers, *, max_batch: int, before_call=None):
        super().__init__(answers)
        self.max_batch, self.before_call = max_batch, before_call

    def generate(self, prompts, *, n=1, temperature=0.2, max_new_tokens=256, stop=None, seed=None):
        if self.before_call is not None:
            self.before_call(len(self.calls))
        outputs = super().generate(prompts, n=n, temperature=temperature, max_new_tokens=max_new_tokens, stop=stop,
                                   seed=seed)
        self.calls[-1].update(seed=seed, prompt_list=list(prompts))
        return outputs


def _answers_for(problems, n):
    return {p.prompt: [SOLUTIONS.get(p.metadata["name"], "  return nil\nend\n")] * n for p in problems}


def test_evaluate_fills_the_backends_batch_and_keeps_problem_order(humaneval, pack):
    problems = [_named(humaneval, name) for name in SOLUTIONS]
    backend = _BatchingBackend(_answers_for(problems, 2), max_batch=4)
    result = evaluate(backend, pack, problems, n=2)
    # 4 sequences per call = 2 prompts of 2 samples; shorter prompts first.
    assert [call["prompts"] for call in backend.calls] == [2, 2, 2]
    sent = [prompt for call in backend.calls for prompt in call["prompt_list"]]
    assert [len(prompt) for prompt in sent] == sorted(len(p.prompt) for p in problems)
    assert [(j.problem_id, j.sample) for j in result.judgements] == [(p.id, s) for p in problems for s in (0, 1)]
    assert all(j.passed for j in result.judgements)
    assert result.generation_seconds >= 0 and result.judging_seconds > 0


def test_each_generate_call_draws_its_own_random_numbers(humaneval, pack):
    problems = [_named(humaneval, name) for name in SOLUTIONS]
    backend = _BatchingBackend(_answers_for(problems, 1), max_batch=2)
    evaluate(backend, pack, problems, n=1, seed=0)
    first = [call["seed"] for call in backend.calls]
    backend.calls.clear()
    evaluate(backend, pack, problems, n=1, seed=1)
    second = [call["seed"] for call in backend.calls]
    assert len(set(first)) == len(first) == 3 and not set(first) & set(second)
    backend.calls.clear()
    evaluate(backend, pack, problems, n=1, seed=None)
    assert {call["seed"] for call in backend.calls} == {None}


def test_samples_are_judged_while_the_next_batch_generates(humaneval, pack, monkeypatch):
    """The sandbox judges one call's samples while the backend makes the next call's."""
    import threading

    from evaluation import harness

    problems = [_named(humaneval, name) for name in SOLUTIONS][:4]
    first_judged = threading.Event()
    judge = harness.judge

    def judging(*args, **kwargs):
        judgements = judge(*args, **kwargs)
        first_judged.set()
        return judgements

    overlapped: list[bool] = []

    def before_call(index):
        if index == 1:
            # Still inside the generation phase: the first batch's verdicts arrive meanwhile.
            overlapped.append(first_judged.wait(timeout=30))

    report = self_test(pack, problems)  # before the patch: only the samples' judging may set the event
    monkeypatch.setattr(harness, "judge", judging)
    backend = _BatchingBackend(_answers_for(problems, 1), max_batch=2, before_call=before_call)
    result = evaluate(backend, pack, problems, n=1, self_test_report=report)
    assert overlapped == [True] and len(result.judgements) == 4
