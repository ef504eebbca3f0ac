"""Jobs: attempts are counted on the row, failures land on it, finished jobs never rerun."""
from __future__ import annotations

import pytest

from curation.jobs import create_job, request_cancel, run_job
from curation.models import Job

pytestmark = pytest.mark.django_db


def test_successful_body_marks_job_succeeded_with_counters():
    job = create_job(Job.Kind.SYNTHESIS)

    def body(progress):
        progress.add(generated=3)
        progress.add(generated=2, stored=1)
        progress.log("half way")

    run_job(job.pk, body)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.counters == {"generated": 5, "stored": 1}
    assert "half way" in job.log_tail
    assert job.attempts == 1 and job.progress == 1.0 and job.finished_at


def test_exception_fails_the_job_with_its_message_and_log():
    job = create_job(Job.Kind.SYNTHESIS)

    def body(progress):
        raise ValueError("generator exploded on seed 7")

    run_job(job.pk, body)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error == "ValueError: generator exploded on seed 7"
    assert "Traceback" in job.log_tail


def test_finished_job_is_not_run_again():
    job = create_job(Job.Kind.SYNTHESIS)
    calls = []
    run_job(job.pk, lambda p: calls.append(1))
    run_job(job.pk, lambda p: calls.append(1))
    assert calls == [1]


def test_job_whose_worker_kept_dying_fails_after_max_attempts():
    job = create_job(Job.Kind.TRAINING)
    # What three deliveries whose worker died leave behind: running, attempts at the cap.
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, attempts=job.max_attempts)
    calls = []
    run_job(job.pk, lambda p: calls.append(1))
    job.refresh_from_db()
    assert calls == []
    assert job.status == Job.Status.FAILED
    assert "stopped 3 times" in job.error


def test_cancel_requested_while_running_stops_the_body():
    job = create_job(Job.Kind.SYNTHESIS)
    steps = []

    def body(progress):
        for i in range(5):
            if i == 2:
                Job.objects.filter(pk=job.pk).update(cancel_requested=True)
            progress.check_cancelled()
            steps.append(i)

    run_job(job.pk, body)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert steps == [0, 1]


def test_cancel_of_queued_job_means_it_never_runs():
    job = create_job(Job.Kind.SYNTHESIS)
    request_cancel(job)
    calls = []
    run_job(job.pk, lambda p: calls.append(1))
    job.refresh_from_db()
    assert calls == [] and job.status == Job.Status.CANCELLED
