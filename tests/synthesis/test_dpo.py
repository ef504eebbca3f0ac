"""DPO pairs: candidates for a task, judged by the real sandbox, paired passing vs failing."""
from __future__ import annotations

import dataclasses

import pytest

from curation.grammar import parses
from curation.packs import TaskData, read_pack
from sandbox import Program, run_many
from synthesis.candidates import Source
from synthesis.generators.dpo import generate, pairs_from_verdicts
from tests.conftest import LUA_PACK

REFERENCE = """function sum_positive(xs)
  local total = 0
  for _, x in ipairs(xs) do
    if x > 0 then total = total + x end
  end
  return total
end
"""
TESTS = [{"args": [[1, -2, 3]], "expected": 4}, {"args": [[]], "expected": 0}, {"args": [[-1, 0]], "expected": 0},
         {"args": [[5, 5]], "expected": 10}]


def _task(split="train", name="sum_positive"):
    return TaskData(name=name, split=split, category="lists", prompt="Write `sum_positive(xs)`: the sum of the positive numbers in xs.",
                    entry_point="sum_positive", tests=TESTS, reference=REFERENCE,
                    wrong="function sum_positive(xs) return #xs end\n", path=f"tasks/{split}/{name}.toml")


@pytest.fixture(scope="module")
def content():
    base = read_pack(LUA_PACK)
    return dataclasses.replace(base, tasks=[_task("train"), _task("test", "held_out_sum")])


class Completion:
    def __init__(self, text):
        self.text = text


class ScriptedBackend:
    name = "scripted"

    def __init__(self, answers):
        self.answers = answers

    def generate(self, prompts, *, n=1, temperature=0.2, max_new_tokens=256, stop=None, seed=None):
        return [[Completion(a) for a in self.answers[:n]] for _ in prompts]


def test_pairs_prefer_passing_over_failing():
    candidates = ["good1", "crash", "wrong", "good2", "syntax"]
    verdicts = ["ok", "runtime_error", "test_failed", "ok", "syntax_error"]
    pairs = pairs_from_verdicts(candidates, verdicts)
    assert pairs == [("good1", "wrong"), ("good2", "crash")]


def test_more_pairs_reuse_passing_candidates_when_asked():
    pairs = pairs_from_verdicts(["good", "a", "b", "c"], ["ok", "syntax_error", "test_failed", "timeout"], max_pairs=5)
    assert pairs == [("good", "b"), ("good", "c"), ("good", "a")]


def test_no_pair_without_both_a_pass_and_a_fail():
    assert pairs_from_verdicts(["a", "b"], ["ok", "ok"]) == []
    assert pairs_from_verdicts(["a", "b"], ["test_failed", "syntax_error"]) == []


def test_sandbox_error_and_flaky_candidates_are_in_no_pair():
    candidates = ["good", "infra", "flaky", "flaky ", "wrong"]
    verdicts = ["ok", "sandbox_error", "ok", "test_failed", "test_failed"]
    assert pairs_from_verdicts(candidates, verdicts, max_pairs=10) == [("good", "wrong")]


def test_mutants_differ_from_the_reference_and_parse(content):
    [pair] = list(generate(Source(content), {"mutants": 6}, seed=11))
    assert pair.candidates[0] == REFERENCE and pair.metadata["origins"][:2] == ["reference", "wrong"]
    mutants = pair.candidates[2:]
    assert len(mutants) == 6 and len(set(pair.candidates)) == len(pair.candidates)
    assert all(parses(m, "lua") for m in mutants)
    kinds = {o.split(":")[1] for o in pair.metadata["origins"][2:]}
    assert len(kinds) >= 3


def test_same_seed_gives_same_mutants(content):
    first = list(generate(Source(content), {}, seed=5))
    again = list(generate(Source(content), {}, seed=5))
    assert [p.candidates for p in first] == [p.candidates for p in again]


def test_held_out_tasks_never_become_pairs(content):
    pairs = list(generate(Source(content), {}, seed=1))
    assert [p.task for p in pairs] == ["sum_positive"]


def test_mutant_pairs_come_from_real_verdicts(content):
    [pair] = list(generate(Source(content), {"mutants": 6}, seed=11))
    programs = [Program(c, tests=pair.tests, entry_point=pair.entry_point) for c in pair.candidates]
    verdicts = [None] * len(programs)
    for index, result in run_many(content.pack, programs):
        verdicts[index] = result.verdict.value
    assert verdicts[0] == "ok" and verdicts[1] == "test_failed"
    pairs = pairs_from_verdicts(pair.candidates, verdicts)
    assert pairs and pairs[0] == (REFERENCE, pairs[0][1])
    assert all(verdicts[pair.candidates.index(rejected)] != "ok" for _, rejected in pairs)


def test_sampled_completions_join_the_reference(content):
    backend = ScriptedBackend(["```lua\nfunction sum_positive(xs) return 0 end\n```", "function sum_positive(xs) return 0 end",
                               "```lua\n" + REFERENCE + "```"])
    [pair] = list(generate(Source(content), {"backend": backend, "k": 3}, seed=2))
    assert pair.model == "scripted"
    assert pair.candidates == [REFERENCE, "function sum_positive(xs) return 0 end\n"]
