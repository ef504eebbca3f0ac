"""Celery tasks of the curation hub: thin shells around cores and actions."""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from curation.jobs import JobProgress, requeue_lost_jobs, run_job


@shared_task(name="curation.execute_samples")
def execute_samples(job_id: int) -> None:
    run_job(job_id, _execute_samples)


def _execute_samples(progress: JobProgress) -> None:
    from curation.execution import batches, execute_and_store, pack_for
    from curation.models import Sample

    ids = sorted(progress.params["sample_ids"])
    language = progress.job.language
    pack = pack_for(language)
    done = 0
    for chunk in batches(ids):
        progress.check_cancelled()
        samples = Sample.objects.filter(pk__in=chunk, language=language).select_related("task")
        counts = execute_and_store(language, samples, job=progress.job, pack=pack)
        done += len(chunk)
        progress.add(**counts)
        progress.update(progress=done / len(ids))


@shared_task(name="curation.requeue_lost_jobs")
def requeue_lost() -> list[int]:
    """Celery beat runs this every few minutes (scriptorium.celery_config.beat_schedule):
    jobs whose message a restarted broker forgot are sent again."""
    return requeue_lost_jobs(quiet_for=timedelta(seconds=settings.REQUEUE_QUIET_SECONDS))
