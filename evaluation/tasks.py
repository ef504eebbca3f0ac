"""Celery tasks of evaluation (routed to the `eval` queue by their "evaluation." names):
thin shells taking ids."""
from __future__ import annotations

from celery import shared_task

from curation.jobs import JobProgress, run_job


@shared_task(name="evaluation.run_evaluation")
def run_evaluation(job_id: int) -> None:
    run_job(job_id, evaluate_job)


def evaluate_job(progress: JobProgress) -> None:
    """The job's body: perform the run named in its params. Idempotent: a finished run is left
    as it is, and a redelivered one replaces its samples in one transaction."""
    from evaluation.runner import perform_run

    perform_run(int(progress.params["run"]), progress)


@shared_task(name="evaluation.auto_evaluate")
def auto_evaluate(checkpoint_id: int) -> None:
    """Start the automatic runs of a checkpoint a training job just registered."""
    from evaluation.actions import do_start_auto_runs
    from training.models import Checkpoint

    checkpoint = Checkpoint.objects.filter(pk=checkpoint_id).select_related("language").first()
    if checkpoint is not None:
        do_start_auto_runs(checkpoint)
