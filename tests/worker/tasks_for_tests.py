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


# A synthesis generator that takes its time, so that a job is still storing chunks when a
# test breaks something under it. Everything after the generator is the real job: the
# sandbox runs each program, triage and store_chunk write the chunks.
PACED_GENERATOR = "test.paced"


def paced_programs(source, params, seed):
    from synthesis.candidates import Candidate

    for i in range(params["count"]):
        time.sleep(params.get("pause", 0.2))
        value = seed * 100_000 + i
        yield Candidate(params.get("kind", "semantic"), f"local n{i} = {value}\nprint(n{i} + {i})",
                        prompt=f"Print {value} plus {i}.")


@shared_task(name="tests.synthesize_paced")
def synthesize_paced(job_id: int) -> None:
    from synthesis import registry
    from synthesis.tasks import synthesize

    registry.GENERATORS[PACED_GENERATOR] = f"{__name__}:paced_programs"
    run_job(job_id, synthesize)
