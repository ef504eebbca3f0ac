"""The model-driven generators in real synthesis jobs on a real local model: the tiny base
(random weights) sampled through LocalBackend, its answers read, run in the sandbox,
triaged and stored like any other job's. A random model writes garbage, so little or
nothing passes; what matters is that the job runs to the end, asks the model, and stores
only what the sandbox validated, with its execution and provenance."""
from __future__ import annotations

import pytest

from curation.models import Job, Sample
from synthesis.actions import do_start_synthesis

pytestmark = pytest.mark.django_db

# Short answers and short prompts keep a job to a few seconds on the tiny model.
SMALL = {"max_new_tokens": 24, "section_chars": 300}


@pytest.fixture
def run_with_tiny_model(django_capture_on_commit_callbacks, lua, tiny_base):
    def run(generator: str, *, count: int, params: dict) -> Job:
        with django_capture_on_commit_callbacks(execute=True):
            job = do_start_synthesis(lua, generator, count=count, seed=2, params=params, chunk_size=4,
                                     backend={"kind": "local", "path": str(tiny_base)})
        job.refresh_from_db()
        return job

    return run


def answers_read(job: Job) -> int:
    """Model answers the job read: those that became candidates and those the generator
    skipped (counted by reason, `skipped_<reason>`)."""
    return job.counters.get("generated", 0) + sum(v for k, v in job.counters.items() if k.startswith("skipped_"))


def assert_every_stored_sample_was_validated(job: Job, tiny_base) -> None:
    samples = list(Sample.objects.filter(job=job).prefetch_related("executions"))
    assert len(samples) == job.counters.get("stored", 0)
    for sample in samples:
        [execution] = sample.executions.all()
        assert sample.verdict == execution.verdict == "ok"
        assert (sample.generator, sample.seed, sample.model) == (job.params["generator"], 2, str(tiny_base))


def test_transpile_job_runs_on_a_local_model(run_with_tiny_model, tiny_base):
    job = run_with_tiny_model("transpile.python", count=4, params={**SMALL, "limit": 2, "k": 2})
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.counters["generated"] > 0 and job.counters["executed"] > 0
    assert_every_stored_sample_was_validated(job, tiny_base)


def test_self_instruct_job_runs_on_a_local_model(run_with_tiny_model, tiny_base):
    job = run_with_tiny_model("self_instruct.docs", count=4, params={**SMALL, "batch": 2})
    assert job.status == Job.Status.SUCCEEDED, job.error
    # Four prompts, one answer each: read strictly, a random model's answers are skipped.
    assert answers_read(job) == 4
    assert_every_stored_sample_was_validated(job, tiny_base)


def test_backtranslate_job_runs_on_a_local_model(run_with_tiny_model, tiny_base):
    job = run_with_tiny_model("backtranslate.roundtrip", count=6,
                              params={"limit": 3, "k": 2, "max_description_tokens": 24, "max_new_tokens": 24})
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert answers_read(job) > 0
    assert_every_stored_sample_was_validated(job, tiny_base)
