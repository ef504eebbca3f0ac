"""Tasks that only the worker tests load (celery worker --include): they misbehave on
purpose, the way a crashing or OOM-killed job would."""
from __future__ import annotations

import os
import signal
import time

from celery import shared_task

from curation.jobs import run_job


@shared_task(name="tests.die_until_attempt")
def die_until_attempt(job_id: int, survive_on: int) -> None:
    def body(progress):
        if progress.job.attempts < survive_on:
            os.kill(os.getpid(), signal.SIGKILL)
        progress.update(counters={"survived_attempt": progress.job.attempts}, force=True)

    run_job(job_id, body)


@shared_task(name="tests.sleep_then_count")
def sleep_then_count(job_id: int, seconds: float) -> None:
    def body(progress):
        progress.update(counters={"pid": os.getpid()}, force=True)
        time.sleep(seconds)
        progress.add(finished=1)

    run_job(job_id, body)
