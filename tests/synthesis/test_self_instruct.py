"""Self-instruct: the model's proposed tasks are read strictly; garbage is skipped and counted."""
from __future__ import annotations

import json

import pytest

from curation.packs import read_pack
from sandbox import Program, run_many
from synthesis.candidates import Source
from synthesis.generators.self_instruct import generate, read_task_answer
from synthesis.prompts import AnswerError
from tests.conftest import LUA_PACK

GOOD = {
    "instruction": "Write a function `count_words(s)` that returns how many space-separated words s has.",
    "entry_point": "count_words",
    "code": "function count_words(s)\n  local n = 0\n  for _ in s:gmatch(\"%S+\") do n = n + 1 end\n  return n\nend\n",
    "tests": [{"args": ["a b c"], "expected": 3}, {"args": [""], "expected": 0}, {"args": ["  x  "], "expected": 1}],
}


class Completion:
    def __init__(self, text):
        self.text = text


class ScriptedBackend:
    name = "scripted"

    def __init__(self, answers):
        self.answers = answers
        self.prompts = []

    def generate(self, prompts, *, n=1, temperature=0.2, max_new_tokens=256, stop=None, seed=None):
        self.prompts.extend(prompts)
        # one answer per prompt, cycling through the script
        return [[Completion(self.answers[(len(self.prompts) - len(prompts) + i) % len(self.answers)])]
                for i in range(len(prompts))]


@pytest.fixture(scope="module")
def content():
    return read_pack(LUA_PACK)


def _with(**changes):
    data = dict(GOOD)
    data.update(changes)
    return json.dumps(data)


def test_garbage_model_answer_is_skipped(content):
    garbage = [
        "Sure! Here is a nice exercise about tables.",                       # not JSON
        json.dumps({k: v for k, v in GOOD.items() if k != "tests"}),        # a field missing
        _with(tests=[{"args": "a b", "expected": 2}]),                     # args not a list
        _with(entry_point="end"),                                           # a keyword
        _with(code="function other(s) return 1 end"),                       # never defines it
        _with(code="function count_words(s) return ( end"),                # does not parse
        _with(tests=GOOD["tests"][:1]),                                     # too few tests
        _with(extra="chatter"),                                             # not the asked-for object
    ]
    report = {}
    backend = ScriptedBackend(garbage + ["```json\n" + json.dumps(GOOD) + "\n```"])
    candidates = list(generate(Source(content), {"backend": backend, "count": len(garbage) + 1, "report": report},
                               seed=4))
    assert len(candidates) == 1
    assert report["skipped"] == {"not_json": 1, "missing_field": 1, "bad_tests": 1, "bad_entry_point": 1,
                                 "entry_point_not_defined": 1, "syntax_error": 1, "too_few_tests": 1,
                                 "unexpected_field": 1}
    assert candidates[0].metadata["skipped_so_far"] == report["skipped"]


def test_self_instruct_task_passes_its_own_tests_in_the_sandbox(content):
    [candidate] = generate(Source(content), {"backend": ScriptedBackend([json.dumps(GOOD)]), "count": 1}, seed=4)
    assert candidate.kind == "self_instruct" and candidate.prompt == GOOD["instruction"]
    [(_, result)] = run_many(content.pack, [Program(candidate.code, tests=candidate.tests,
                                                    entry_point=candidate.entry_point)])
    assert result.verdict.value == "ok"


def test_prompt_shows_the_topic_section_and_related_ones(content):
    backend = ScriptedBackend([json.dumps(GOOD)])
    [candidate] = generate(Source(content), {"backend": backend, "count": 1, "topics": ["§9.4"]}, seed=4)
    prompt = backend.prompts[0]
    assert candidate.metadata["topic"] == "§9.4" and candidate.parent == "section:§9.4"
    assert len(candidate.metadata["sections"]) == 3
    assert all(anchor in prompt for anchor in candidate.metadata["sections"])


def test_same_instruction_twice_is_kept_once(content):
    backend = ScriptedBackend([json.dumps(GOOD)])
    report = {}
    candidates = list(generate(Source(content), {"backend": backend, "count": 3, "report": report}, seed=4))
    assert len(candidates) == 1 and report["skipped"] == {"duplicate": 2}


def test_tests_the_pack_cannot_write_are_refused(content):
    with pytest.raises(AnswerError) as caught:
        read_task_answer(_with(tests="[1, 2, 3]"), content.pack)
    assert caught.value.reason == "bad_tests"


def test_candidates_are_yielded_before_every_prompt_is_sent(content):
    backend = ScriptedBackend([json.dumps(GOOD)])
    candidates = generate(Source(content), {"backend": backend, "count": 20, "batch": 4}, seed=4)
    first = next(candidates)
    assert first.prompt == GOOD["instruction"]
    assert len(backend.prompts) == 4  # one group asked, sixteen prompts still unsent
    rest = list(candidates)
    assert rest == [] and len(backend.prompts) == 20  # the other answers repeat the first instruction


def test_group_size_does_not_change_the_prompts(content):
    asked = []
    for batch in (1, 3, 20):
        backend = ScriptedBackend([json.dumps(GOOD)])
        list(generate(Source(content), {"backend": backend, "count": 7, "batch": batch}, seed=9))
        asked.append(backend.prompts)
    assert asked[0] == asked[1] == asked[2] and len(asked[0]) == 7
