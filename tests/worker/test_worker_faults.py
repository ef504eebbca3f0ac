"""Work is not lost when a worker's process dies, and is not run when its transaction rolls back."""
from __future__ import annotations

import os
import signal

import pytest
import redis
from django.db import transaction

from curation.jobs import create_job, enqueue
from curation.models import Job
from tests.worker.conftest import wait_for
from tests.worker.tasks_for_tests import die_until_attempt, sleep_then_count

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def _finished(job):
    job.refresh_from_db()
    return job.is_finished


def test_job_whose_process_is_killed_is_redelivered_and_finishes(worker):
    job = create_job(Job.Kind.SYNTHESIS)
    with transaction.atomic():
        enqueue(job, sleep_then_count, 4.0, queue="synthesis")
    pid = wait_for(lambda: Job.objects.get(pk=job.pk).counters.get("pid"))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: _finished(job), timeout=90)
    assert job.status == Job.Status.SUCCEEDED
    assert job.attempts == 2
    assert job.counters["finished"] == 1
    assert worker.alive()


def test_job_that_kills_its_worker_every_time_fails_after_capped_attempts(worker):
    job = create_job(Job.Kind.SYNTHESIS)
    with transaction.atomic():
        enqueue(job, die_until_attempt, 99, queue="synthesis")
    wait_for(lambda: _finished(job), timeout=120)
    assert job.status == Job.Status.FAILED
    assert job.attempts == job.max_attempts
    assert "stopped 3 times" in job.error
    assert worker.alive()


def test_job_that_dies_once_succeeds_on_the_next_attempt(worker):
    job = create_job(Job.Kind.SYNTHESIS)
    with transaction.atomic():
        enqueue(job, die_until_attempt, 2, queue="synthesis")
    wait_for(lambda: _finished(job), timeout=90)
    assert job.status == Job.Status.SUCCEEDED
    assert job.counters == {"survived_attempt": 2}


def test_task_enqueued_in_a_rolled_back_transaction_never_runs(broker, transactional_db):
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback):
        with transaction.atomic():
            job = create_job(Job.Kind.SYNTHESIS)
            enqueue(job, sleep_then_count, 0.0, queue="synthesis")
            raise Rollback
    assert not Job.objects.exists()
    assert redis.Redis.from_url(broker).llen("synthesis") == 0
