"""Celery tasks of the curation hub: thin shells around cores and actions."""
from __future__ import annotations

from celery import shared_task

from curation.jobs import JobProgress, run_job


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
