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


class CountingBackend(ScriptedBackend):
    """A scripted backend that remembers every prompt it was asked."""

    def __init__(self, description, programs):
        super().__init__(description, programs)
        self.prompts = []

    def generate(self, prompts, **kwargs):
        self.prompts.extend(prompts)
        return super().generate(prompts, **kwargs)


def test_candidates_are_yielded_before_every_original_is_described(content):
    originals = [f"for i = 1, {n} do print(i * i) end\n" for n in range(2, 12)]
    backend = CountingBackend(DESCRIPTION, [SAME])
    candidates = generate(Source(content, accepted=originals),
                          {"backend": backend, "k": 1, "include_examples": False, "batch": 3}, seed=1)
    first = next(candidates)
    assert first.equivalent_to == originals[0]
    described = [p for p in backend.prompts if p.startswith("Here is a")]
    assert len(described) == 3  # one group described and regenerated; seven originals still unsent
    assert len(list(candidates)) == 9 and len([p for p in backend.prompts if p.startswith("Here is a")]) == 10


LIBRARY = "local M = {}\nfunction double(x)\n  return 2 * x\nend\n"
DOUBLE_TESTS = {"tests": [{"args": [2], "expected": 4}, {"args": [-3], "expected": -6}], "entry_point": "double"}
RIGHT = "```lua\nfunction double(x) return x + x end\n```"
WRONG = "```lua\nfunction double(x) return x * x end\n```"


def test_function_with_tests_is_regenerated_against_its_tests(content):
    backend = CountingBackend("Returns twice the number it is given, as a number.", [RIGHT, WRONG])
    candidates = list(generate(Source(content, accepted=[LIBRARY]),
                               {"backend": backend, "k": 2, "include_examples": False,
                                "accepted_tests": {LIBRARY: DOUBLE_TESTS}}, seed=1))
    assert "function `double`" in backend.prompts[-1]
    assert len(candidates) == 2
    assert all(c.equivalent_to is None and c.metadata["check"] == "tests" and "`double`" in c.prompt
               and (c.tests, c.entry_point) == (DOUBLE_TESTS["tests"], "double") for c in candidates)
    verdicts = {i: r.verdict.value for i, r in run_many(content.pack, [
        Program(c.code, tests=c.tests, entry_point=c.entry_point) for c in candidates])}
    assert [verdicts[0], verdicts[1] != "ok"] == ["ok", True]


@pytest.fixture
def run_on_library(lua, settings, django_capture_on_commit_callbacks):
    """A back-translation job over one accepted function-only sample that has tests, with a
    model (a real local HTTP endpoint) that describes it and regenerates it as `program`."""
    from curation.models import Job, Sample
    from synthesis.actions import do_start_synthesis
    from tests.synthesis.fake_endpoint import FakeEndpoint

    settings.ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]
    Sample.objects.create(language=lua, kind="transpile", prompt="Double a number.", code=LIBRARY, content_hash="lib",
                          status="accepted", metadata=DOUBLE_TESTS)

    def run(program: str) -> Job:
        def answer(prompt: str) -> str:
            if prompt.startswith("Here is a "):
                return "Returns twice the number it is given, as a number."
            return program if "function `double`" in prompt else "no"

        with FakeEndpoint(answer) as endpoint, django_capture_on_commit_callbacks(execute=True):
            job = do_start_synthesis(lua, "backtranslate.roundtrip", count=2, seed=1, backend=endpoint.backend(),
                                     params={"include_examples": False, "k": 1})
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED, job.error
        return job

    return run


@pytest.mark.django_db
def test_job_drops_a_regenerated_function_that_fails_the_original_tests(run_on_library):
    from curation.models import Sample

    job = run_on_library(WRONG)  # squares instead of doubling: it runs, but its tests fail
    assert job.counters["generated"] == job.counters["parsed"] == 1
    assert job.counters.get("runner_ok", 0) == 0 and job.counters["passed"] == 0
    assert not Sample.objects.filter(job=job).exists()


@pytest.mark.django_db
def test_job_stores_a_regenerated_function_with_the_original_tests(run_on_library):
    from curation.models import Sample

    job = run_on_library(RIGHT)
    sample = Sample.objects.get(job=job)
    assert sample.metadata["check"] == "tests" and sample.metadata["entry_point"] == "double"
    assert sample.metadata["tests"] == DOUBLE_TESTS["tests"] and "`double`" in sample.prompt
    assert sample.executions.get().verdict == "ok"
