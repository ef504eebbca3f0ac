"""Runs as queued jobs: the in-process default runs them once the transaction commits."""
from __future__ import annotations

import pytest

from curation.jobs import run_job
from curation.models import Job
from evaluation.actions import do_cancel_run, do_start_run
from evaluation.models import EvalRun
from evaluation.tasks import evaluate_job

pytestmark = pytest.mark.django_db


def test_a_started_run_executes_on_commit_on_the_eval_queue(tiny_checkpoint, pack_suites,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = do_start_run(tiny_checkpoint, pack_suites["lua-test"], n=1, max_new_tokens=8, limit=2)
    run.refresh_from_db()
    assert run.status == "finished" and run.sample_count == 2
    assert run.job.kind == Job.Kind.EVALUATION and run.job.status == Job.Status.SUCCEEDED
    assert run.job.counters["samples"] == 2 and "self-test passed" in run.job.log_tail


def test_a_finished_run_is_not_redone_when_its_job_comes_again(tiny_checkpoint, pack_suites):
    run = do_start_run(tiny_checkpoint, pack_suites["lua-test"], n=1, max_new_tokens=8, limit=2, send=False)
    run_job(run.job_id, evaluate_job)
    first = list(EvalRun.objects.get(pk=run.pk).samples.values_list("pk", "completion"))
    Job.objects.filter(pk=run.job_id).update(status=Job.Status.RUNNING)  # as after a redelivery
    run_job(run.job_id, evaluate_job)
    assert list(EvalRun.objects.get(pk=run.pk).samples.values_list("pk", "completion")) == first


def test_a_run_cancelled_while_queued_never_generates(tiny_checkpoint, pack_suites):
    run = do_start_run(tiny_checkpoint, pack_suites["lua-test"], n=1, max_new_tokens=8, limit=2, send=False)
    do_cancel_run(run)
    run_job(run.job_id, evaluate_job)
    run.refresh_from_db()
    assert run.status == "cancelled" and run.samples.count() == 0
    assert run.job.status == Job.Status.CANCELLED


def test_a_run_whose_model_is_gone_fails_with_the_reason(lua, pack_suites, tmp_path):
    from tests.evaluation.conftest import make_checkpoint

    missing = make_checkpoint(lua, tmp_path / "no-such-model", name="gone")
    run = do_start_run(missing, pack_suites["lua-test"], n=1, max_new_tokens=8, limit=1, send=False)
    run_job(run.job_id, evaluate_job)
    run.refresh_from_db()
    assert run.status == "failed" and "no-such-model" in run.job.error
