"""A Redis broker restarted mid-run (kept nothing on disk): the jobs it forgot are found
and sent again, and finish where they stopped; nothing is stored twice.

Each test runs its own redis-server on a free port; the shared one is never touched."""
from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count

from curation.jobs import enqueue, requeue_lost_jobs
from curation.models import Job, Sample
from synthesis import registry
from synthesis.actions import do_start_synthesis
from tests.worker.conftest import wait_for
from tests.worker.tasks_for_tests import PACED_GENERATOR, synthesize_paced

pytestmark = [pytest.mark.worker, pytest.mark.slow]

QUIET = timedelta(seconds=3)


@pytest.fixture
def paced_synthesis(monkeypatch):
    monkeypatch.setitem(registry.GENERATORS, PACED_GENERATOR, "tests.worker.tasks_for_tests:paced_programs")

    def start(language, *, count: int, chunk_size: int, seed: int, pause: float) -> Job:
        job = do_start_synthesis(language, PACED_GENERATOR, count=count, seed=seed, chunk_size=chunk_size,
                                 params={"pause": pause}, send=False)
        # Near-duplicate triage would drop these look-alike programs; every one must be stored.
        job.params = {**job.params, "triage": {"near_duplicates": {"on": False}}}
        job.save(update_fields=["params"])
        with transaction.atomic():
            enqueue(job, synthesize_paced, queue="synthesis")
        return job

    return start


def _row(job) -> Job:
    return Job.objects.get(pk=job.pk)


def test_jobs_lost_by_a_restarted_broker_are_sent_again_and_finish(own_broker_worker, own_broker, lua,
                                                                    paced_synthesis):
    running = paced_synthesis(lua, count=24, chunk_size=2, seed=1, pause=0.3)
    waiting = paced_synthesis(lua, count=6, chunk_size=2, seed=2, pause=0.0)
    wait_for(lambda: _row(running).counters.get("chunks_done", 0) >= 2, timeout=120)
    assert _row(waiting).status == Job.Status.QUEUED

    own_broker.restart()
    assert own_broker.client().dbsize() == 0  # both messages are gone with the old process
    # The worker reconnects and stops the task it could no longer acknowledge; the running
    # job's row stops moving, the waiting one never starts.
    wait_for(lambda: own_broker_worker.output().count("Connected to redis://") >= 2, timeout=60)
    before = _row(running).counters.get("chunks_done", 0)
    wait_for(lambda: not Job.objects.filter(pk=running.pk, heartbeat_at__gt=_ago(QUIET)).exists(), timeout=60)
    assert _row(running).status == Job.Status.RUNNING and _row(running).counters.get("chunks_done", 0) == before
    assert _row(waiting).status == Job.Status.QUEUED

    assert sorted(requeue_lost_jobs(quiet_for=QUIET)) == sorted([running.pk, waiting.pk])
    assert requeue_lost_jobs(quiet_for=timedelta(0)) == []  # the new messages are in the broker
    sent_again = time.monotonic()

    for job in (running, waiting):
        wait_for(lambda job=job: _row(job).is_finished, timeout=180)
    print(f"\nbroker restarted after {before} of 12 chunks; both jobs finished "
          f"{time.monotonic() - sent_again:.0f} s after being sent again")
    running, waiting = _row(running), _row(waiting)
    assert running.status == waiting.status == Job.Status.SUCCEEDED, running.error + waiting.error
    assert running.attempts == 2 and waiting.attempts == 1
    assert (running.counters["chunks_done"], running.counters["stored"]) == (12, 24)
    assert (waiting.counters["chunks_done"], waiting.counters["stored"]) == (3, 6)
    for job, count in ((running, 24), (waiting, 6)):
        assert Sample.objects.filter(job=job).count() == count
        assert not Sample.objects.filter(job=job).values("content_hash").annotate(n=Count("id")).filter(n__gt=1)
        assert not Sample.objects.filter(job=job).values("code").annotate(n=Count("id")).filter(n__gt=1)
    assert own_broker_worker.alive()


def test_jobs_whose_messages_are_still_in_the_broker_are_not_sent_again(own_broker, transactional_db, lua, paced_synthesis):
    job = paced_synthesis(lua, count=2, chunk_size=2, seed=3, pause=0.0)
    Job.objects.filter(pk=job.pk).update(created_at=_ago(timedelta(hours=1)))
    client = own_broker.client()
    assert client.llen("synthesis") == 1

    assert requeue_lost_jobs(quiet_for=QUIET) == []
    assert client.llen("synthesis") == 1


def test_a_job_whose_message_was_lost_is_sent_again_once(own_broker, transactional_db, lua, paced_synthesis):
    job = paced_synthesis(lua, count=2, chunk_size=2, seed=4, pause=0.0)
    Job.objects.filter(pk=job.pk).update(created_at=_ago(timedelta(hours=1)))
    client = own_broker.client()
    client.delete("synthesis")  # what a broker restart without persistence does to it

    out = StringIO()
    call_command("requeue_jobs", "--quiet-for", "3", stdout=out)
    assert out.getvalue().strip() == f"sent again: job {job.pk}"
    assert requeue_lost_jobs(quiet_for=timedelta(0)) == []
    assert client.llen("synthesis") == 1
    assert _row(job).task_id in client.lindex("synthesis", 0).decode()


def _ago(delta: timedelta):
    from django.utils import timezone

    return timezone.now() - delta
