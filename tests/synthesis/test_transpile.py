"""Python -> Lua transpilation: our own seeds, and only translations that pass survive."""
from __future__ import annotations

import json

import pytest

from curation.packs import read_pack
from sandbox import Program, run_many
from sandbox.testcompiler import compile_tests, parse_tests
from synthesis.candidates import Source
from synthesis.generators.transpile import generate, load_python_seeds
from tests.conftest import LUA_PACK

CORRECT = """Here you go:

```lua
function digit_sum(n)
  local total = 0
  while n > 0 do
    total = total + n % 10
    n = n // 10
  end
  return total
end
```
"""
# A plausible mistake: a fixed three rounds only sums the last three digits.
WRONG = """```lua
function digit_sum(n)
  local total = 0
  for i = 1, 3 do
    total = total + n % 10
    n = n // 10
  end
  return total
end
```"""


class Completion:
    def __init__(self, text):
        self.text = text


class ScriptedBackend:
    name = "scripted-translator"

    def __init__(self, answers):
        self.answers = answers
        self.prompts = []

    def generate(self, prompts, *, n=1, temperature=0.2, max_new_tokens=256, stop=None, seed=None):
        self.prompts.extend(prompts)
        return [[Completion(a) for a in self.answers[:n]] for _ in prompts]


@pytest.fixture(scope="module")
def content():
    return read_pack(LUA_PACK)


def _strict(value):
    """JSON's view of a value, with booleans told apart from numbers (True == 1 in Python)."""
    value = json.loads(json.dumps(value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, list):
        return [_strict(v) for v in value]
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    return value


def test_python_seeds_pass_their_own_tests():
    seeds = load_python_seeds()
    assert len(seeds) >= 40
    for seed in seeds:
        namespace: dict = {}
        exec(compile(seed.python_source, f"<seed {seed.name}>", "exec"), namespace)
        function = namespace[seed.name]
        assert len(seed.tests) >= 3, seed.name
        for test in seed.tests:
            got = function(*json.loads(json.dumps(test["args"])))
            assert _strict(got) == _strict(test["expected"]), (seed.name, test)


def test_seed_tests_compile_for_the_lua_pack(content):
    for seed in load_python_seeds():
        code = compile_tests(content.pack.tests, seed.name, parse_tests(seed.tests), "marker")
        assert f"{seed.name}(" in code


def test_transpile_keeps_only_translations_that_pass(content):
    backend = ScriptedBackend([CORRECT, WRONG, CORRECT])
    candidates = list(generate(Source(content), {"backend": backend, "seeds": ["digit_sum"], "k": 3}, seed=1))
    assert len(candidates) == 2  # the repeated correct answer counts once
    assert all(c.kind == "transpile" and c.entry_point == "digit_sum" and c.model == "scripted-translator"
               for c in candidates)
    programs = [Program(c.code, tests=c.tests, entry_point=c.entry_point) for c in candidates]
    verdicts = {i: r.verdict.value for i, r in run_many(content.pack, programs)}
    kept = [candidates[i] for i, v in verdicts.items() if v == "ok"]
    assert [c.metadata["sample"] for c in kept] == [0]
    assert verdicts[1] == "test_failed"
    assert kept[0].prompt.startswith("Write a Lua function `digit_sum(n)`.")


def test_translation_prompt_carries_the_python_and_the_docs(content):
    backend = ScriptedBackend([CORRECT])
    [candidate] = generate(Source(content), {"backend": backend, "seeds": ["capitalize_words"], "k": 1}, seed=1)
    prompt = backend.prompts[0]
    assert "def capitalize_words(s):" in prompt and "assert capitalize_words('hello world') == 'Hello World'" in prompt
    anchors = candidate.metadata["sections"]
    assert anchors and all(a in prompt for a in anchors)
    assert "§8.2" in anchors  # "Case, repetition and reversal": upper/lower


def test_transpile_without_backend_is_refused(content):
    with pytest.raises(ValueError, match="backend"):
        list(generate(Source(content), {}, seed=1))
