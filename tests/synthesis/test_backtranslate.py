"""Back-translation: code -> description -> code, kept only when the outputs match."""
from __future__ import annotations

import pytest

from curation.packs import read_pack
from sandbox import Program, run_many
from synthesis.candidates import Source
from synthesis.generators.backtranslate import description_problem, generate, is_whole_program
from tests.conftest import LUA_PACK

ORIGINAL = "local function square(x) return x * x end\nfor i = 1, 3 do print(square(i)) end\n"
DESCRIPTION = "Prints the squares of the numbers 1, 2 and 3, one per line."
SAME = "```lua\nfor i = 1, 3 do print(i * i) end\n```"
DIFFERENT = "```lua\nfor i = 1, 3 do print(i + i) end\n```"


class Completion:
    def __init__(self, text):
        self.text = text


class ScriptedBackend:
    """Describes any program with `description`; writes `programs` for any description."""
    name = "scripted"

    def __init__(self, description, programs):
        self.description, self.programs = description, programs

    def generate(self, prompts, *, n=1, temperature=0.2, max_new_tokens=256, stop=None, seed=None):
        out = []
        for prompt in prompts:
            texts = [self.description] if prompt.startswith("Here is a") else self.programs[:n]
            out.append([Completion(t) for t in texts])
        return out


@pytest.fixture(scope="module")
def content():
    return read_pack(LUA_PACK)


def test_regenerated_program_is_kept_only_if_it_prints_the_same(content):
    backend = ScriptedBackend(DESCRIPTION, [SAME, DIFFERENT])
    candidates = list(generate(Source(content, accepted=[ORIGINAL]), {"backend": backend, "k": 2,
                                                                      "include_examples": False}, seed=1))
    assert len(candidates) == 2
    assert all(c.kind == "backtranslate" and c.prompt == DESCRIPTION and c.equivalent_to == ORIGINAL
               for c in candidates)
    programs = [Program(ORIGINAL)] + [Program(c.code) for c in candidates]
    stdout = {i: r.stdout for i, r in run_many(content.pack, programs)}
    kept = [c for i, c in enumerate(candidates, 1) if stdout[i] == stdout[0]]
    assert [c.code for c in kept] == ["for i = 1, 3 do print(i * i) end\n"]


def test_examples_are_back_translated_as_whole_programs(content):
    backend = ScriptedBackend(DESCRIPTION, [SAME])
    candidates = list(generate(Source(content), {"backend": backend, "k": 1, "limit": 2}, seed=3))
    assert len(candidates) == 2
    by_name = {f"example:{e.name}": e.code for e in content.examples}
    for candidate in candidates:
        assert candidate.equivalent_to == by_name[candidate.parent]


def test_description_that_repeats_the_code_is_skipped(content):
    leaky = "It does this:\n```lua\nfor i = 1, 3 do print(square(i)) end\n```"
    report = {}
    candidates = list(generate(Source(content, accepted=[ORIGINAL]),
                               {"backend": ScriptedBackend(leaky, [SAME]), "include_examples": False,
                                "report": report}, seed=1))
    assert candidates == [] and report["skipped"] == {"description_has_code": 1}
    assert description_problem("Prints.", ORIGINAL) == "description_too_short"


def test_function_library_is_not_compared_by_output(content):
    library = "local function double(x) return 2 * x end\n-- only definitions\nfunction half(x) return x / 2 end\n"
    assert not is_whole_program(library, content.pack)
    assert is_whole_program(ORIGINAL, content.pack)
    [candidate] = generate(Source(content, accepted=[library]),
                           {"backend": ScriptedBackend("Defines double and half of a number, as two functions.",
                                                       ["```lua\nfunction double(x) return x + x end\n```"]),
                            "include_examples": False, "k": 1}, seed=1)
    assert candidate.equivalent_to is None and candidate.metadata["whole_program"] is False
