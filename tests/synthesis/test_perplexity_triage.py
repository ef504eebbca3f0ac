"""The perplexity rule of triage in synthesis jobs: the job's model backend (here the real
tiny base, run in this process) scores every item that survives the other checks; the
score is stored on the item, and the rule sends items above its maximum to review or
rejects them, with the reason."""
from __future__ import annotations

import math

import pytest

from curation.jobs import run_job
from curation.models import Job, ReviewQueue, Sample
from synthesis.actions import do_start_synthesis
from synthesis.tasks import synthesize

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_with_rule(lua, tiny_base):
    """A syntax.mutate job (cheap, no model of its own) with the job's triage rules set, as
    the worker tests set them; `backend` False runs it without a model backend."""

    def run(perplexity: dict, *, backend: bool = True, count: int = 6) -> Job:
        job = do_start_synthesis(lua, "syntax.mutate", count=count, seed=1, send=False,
                                 backend={"kind": "local", "path": str(tiny_base)} if backend else None)
        job.params = {**job.params, "triage": {"perplexity": perplexity}}
        job.save(update_fields=["params"])
        run_job(job.pk, synthesize)
        job.refresh_from_db()
        return job

    return run


def test_scored_samples_store_their_perplexity(run_with_rule):
    job = run_with_rule({"on": True, "max": 1000.0})
    assert job.status == Job.Status.SUCCEEDED, job.error
    samples = list(Sample.objects.filter(job=job))
    assert samples and job.counters["stored"] == len(samples)
    for sample in samples:
        # quality is the perplexity, exp() of the mean negative log-likelihood per token
        assert sample.quality == pytest.approx(math.exp(sample.metadata["nll_per_token"]), rel=1e-3)
        assert sample.metadata["perplexity"] == pytest.approx(sample.quality, rel=1e-3)
        assert sample.status == "pending" and sample.triage_reason == ""


def test_samples_above_the_maximum_go_to_review_with_the_reason(run_with_rule):
    job = run_with_rule({"on": True, "max": 0.5})  # a random model finds nothing that likely
    assert job.status == Job.Status.SUCCEEDED, job.error
    samples = list(Sample.objects.filter(job=job))
    assert samples and all(s.status == "pending" for s in samples)
    assert all(s.triage_reason.startswith("perplexity: ") and s.triage_reason.endswith("> 0.5") for s in samples)


def test_samples_above_the_maximum_are_auto_rejected_when_the_rule_says_reject(run_with_rule):
    job = run_with_rule({"on": True, "max": 0.5, "action": "reject"})
    assert job.status == Job.Status.SUCCEEDED, job.error
    samples = list(Sample.objects.filter(job=job))
    assert samples and all(s.status == "auto_rejected" and s.triage_reason.startswith("perplexity: ")
                           for s in samples)
    assert job.counters["auto_rejected_perplexity"] == len(samples) == job.counters["auto_rejected"]


def test_review_queue_by_score_shows_the_least_likely_sample_first(run_with_rule, lua, reviewer):
    from curation.review import next_item_for

    job = run_with_rule({"on": True, "max": 1000.0})
    samples = list(Sample.objects.filter(job=job))
    kind = samples[0].kind
    config = ReviewQueue(language=lua, kind=kind, order=ReviewQueue.Order.SCORE_HIGH)
    first = next_item_for(reviewer, lua, kind, config=config).sample
    assert first.quality == max(s.quality for s in samples if s.kind == kind)


def test_perplexity_without_a_backend_fails_the_job_before_storing_anything(run_with_rule, settings):
    settings.TEACHER_BASE_URL = ""
    job = run_with_rule({"on": True, "max": 5.0}, backend=False)
    assert job.status == Job.Status.FAILED
    assert "triage.perplexity is on but the job has no model backend" in job.error
    assert "TEACHER_BASE_URL" in job.error
    assert not Sample.objects.filter(job=job).exists() and "chunks_done" not in job.counters


def test_without_the_rule_samples_carry_no_score(run_with_rule):
    job = run_with_rule({"on": False})
    assert job.status == Job.Status.SUCCEEDED, job.error
    samples = list(Sample.objects.filter(job=job))
    assert samples and all(s.quality is None and "perplexity" not in s.metadata for s in samples)
