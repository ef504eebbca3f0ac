"""Bad input: a generator that raises, a model endpoint that hangs or answers garbage, a
pack without grammar rules. The job records what happened and either carries on or fails
cleanly; it never leaves half a chunk behind."""
from __future__ import annotations

import shutil
import time

import pytest

from curation.models import Job, Sample
from synthesis import registry
from synthesis.actions import do_start_synthesis
from tests.synthesis.fake_endpoint import FakeEndpoint, ScriptedModel

pytestmark = pytest.mark.django_db

TRANSPILE = {"seeds": ["digit_sum", "is_palindrome", "count_vowels", "fizzbuzz"], "k": 2, "batch": 1}


@pytest.fixture(autouse=True)
def local_endpoints_allowed(settings):
    """The fake endpoints listen on loopback, which the SSRF guard refuses unless an
    admin allow-lists it; here the test is the admin."""
    settings.ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]


@pytest.fixture
def run_synthesis(django_capture_on_commit_callbacks):
    def run(language, generator, **kwargs) -> Job:
        with django_capture_on_commit_callbacks(execute=True):
            job = do_start_synthesis(language, generator, **kwargs)
        job.refresh_from_db()
        return job

    return run


def _rows_match_counters(job: Job) -> bool:
    """What the job says it stored is exactly what is there: no half-written chunk."""
    return Sample.objects.filter(job=job).count() == job.counters.get("stored", 0)


def test_generator_that_raises_at_once_fails_the_job_with_its_error(lua, monkeypatch, run_synthesis):
    monkeypatch.setitem(registry.GENERATORS, "test.raises", "tests.synthesis.failing_generators:raises_after_some")
    job = run_synthesis(lua, "test.raises", count=10, params={"good": 0})
    assert job.status == Job.Status.FAILED
    assert job.error == "RuntimeError: the generator broke on purpose"
    assert "Traceback" in job.log_tail and "raises_after_some" in job.log_tail
    assert not Sample.objects.filter(job=job).exists()


def test_endpoint_that_does_not_answer_in_time_fails_the_job_cleanly(lua, run_synthesis):
    with FakeEndpoint(mode="slow", delay=5) as endpoint:
        started = time.monotonic()
        job = run_synthesis(lua, "transpile.python", count=20, params=TRANSPILE,
                            backend=endpoint.backend(timeout=0.5))
    assert time.monotonic() - started < 4
    assert job.status == Job.Status.FAILED
    assert "did not answer within 0.5 s" in job.error and endpoint.base_url in job.error
    assert job.counters.get("stored", 0) == 0 and _rows_match_counters(job)


def test_endpoint_that_answers_garbage_fails_the_job_cleanly(lua, run_synthesis):
    with FakeEndpoint(mode="garbage") as endpoint:
        job = run_synthesis(lua, "self_instruct.docs", count=3, backend=endpoint.backend())
    assert job.status == Job.Status.FAILED
    assert "BackendError" in job.error and "not JSON" in job.error and "502 Bad Gateway" in job.error
    assert not Sample.objects.filter(job=job).exists()


def test_endpoint_whose_answers_are_not_code_lets_the_job_finish_with_nothing_stored(lua, run_synthesis):
    with FakeEndpoint(lambda prompt: "I cannot help with that.") as endpoint:
        job = run_synthesis(lua, "transpile.python", count=20, params=TRANSPILE, backend=endpoint.backend())
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.counters["generated"] > 0 and job.counters["passed"] == 0 and job.counters["stored"] == 0


def test_endpoint_that_breaks_midway_keeps_the_finished_chunks_only(lua, run_synthesis):
    # One seed per request (its two translations are the same, so one candidate); chunks
    # of one: the first request fills chunk 1, the second request's garbage fails the job.
    with FakeEndpoint(ScriptedModel(), fail_after=1) as endpoint:
        job = run_synthesis(lua, "transpile.python", count=20, params=TRANSPILE, backend=endpoint.backend(),
                            chunk_size=1)
    assert job.status == Job.Status.FAILED and "not JSON" in job.error
    assert job.counters["chunks_done"] == 1 and job.counters["generated"] == 1
    assert job.counters["stored"] == 1 and _rows_match_counters(job)


def test_endpoint_that_breaks_inside_a_chunk_stores_none_of_it(lua, run_synthesis):
    with FakeEndpoint(ScriptedModel(), fail_after=1) as endpoint:
        job = run_synthesis(lua, "transpile.python", count=20, params=TRANSPILE, backend=endpoint.backend(),
                            chunk_size=2)
    assert job.status == Job.Status.FAILED
    assert "chunks_done" not in job.counters and not Sample.objects.filter(job=job).exists()


def test_pack_without_grammar_rules_makes_syntax_grammar_yield_nothing(lua_pack_copy, run_synthesis):
    from curation.actions import _store_pack
    from curation.packs import read_pack

    shutil.rmtree(lua_pack_copy / "grammar")
    language = _store_pack(read_pack(lua_pack_copy)).language
    job = run_synthesis(language, "syntax.grammar", count=50)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.counters.get("generated", 0) == 0 and not Sample.objects.filter(job=job).exists()
    assert "syntax.grammar produced no candidates" in job.log_tail and "grammar.json" in job.log_tail


def test_unknown_backend_kind_fails_the_job_with_a_clear_error(lua, run_synthesis):
    job = run_synthesis(lua, "transpile.python", count=5, backend={"kind": "carrier-pigeon"})
    assert job.status == Job.Status.FAILED and "unknown backend kind 'carrier-pigeon'" in job.error


def test_model_generator_without_a_backend_fails_the_job_with_a_clear_error(lua, run_synthesis, settings):
    settings.TEACHER_BASE_URL = ""
    job = run_synthesis(lua, "self_instruct.docs", count=5)
    assert job.status == Job.Status.FAILED and "needs params['backend']" in job.error


def test_endpoint_on_a_private_address_is_refused_unless_allow_listed(lua, run_synthesis, settings):
    settings.ENDPOINT_ALLOWED_HOSTS = []
    job = run_synthesis(lua, "transpile.python", count=2,
                        backend={"kind": "openai", "base_url": "http://127.0.0.1:6379/v1", "model": "m"})
    assert job.status == Job.Status.FAILED
    assert "private, loopback or link-local" in job.error
